from lapor_hub.cli import app

app()
