"""What the tests and the benchmarks both use: service processes, ports, an SMTP sink, event
factories. A development package (its SMTP sink needs aiosmtpd); no service imports it."""
