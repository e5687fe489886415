"""The notifier's pure domain: what an agency may do with an assignment, what it may be told,
when to try a delivery again, and the words of each message. No I/O here."""
