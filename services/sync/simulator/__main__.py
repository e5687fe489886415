import asyncio
import logging

from services.sync.simulator.server import NationalSimulator
from services.sync.simulator.settings import SimulatorSettings

settings = SimulatorSettings()
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)
asyncio.run(NationalSimulator(settings).serve_forever())
