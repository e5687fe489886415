"""Settings of the national LAPOR simulator, from `LAPOR_HUB_SIMULATOR_*` variables.

`LAPOR_HUB_SIMULATOR_FAULTS` takes a fault plan as JSON, e.g. a daily outage window:
`{"daily": [{"start": "01:00", "duration": "PT1H30M", "mode": "refuse"}]}`.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.sync.simulator.faults import FaultPlan


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LAPOR_HUB_SIMULATOR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = 8090  # the national API; 0 picks a free port
    control_port: int = 8091  # /_sim/*: faults, audit, national admins; never faulted
    authorization: str = "Bearer lapor-hub-simulator"
    token: str = "lapor-hub-simulator-token"
    faults: FaultPlan = FaultPlan()
    # How often the closed/open state of the API port follows the outage schedule.
    listener_check_seconds: float = 0.05
    log_level: str = "INFO"
