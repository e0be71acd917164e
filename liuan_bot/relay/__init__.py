"""The relay after a conference is held (issue 5; R19–R23).

`load_channels(config/channels.toml)` gives the channels; `Composer.compose_all(facts,
channels)` writes each one's piece. jieba is imported by `Composer.load()` only, never when this
package is imported.
"""

from liuan_bot.relay.channels import (
    LIMITS,
    TEMPLATES,
    ChannelConfigError,
    ChannelSpec,
    load_channels,
    load_robot_env,
)
from liuan_bot.relay.compose import Composer, Piece, ReleaseFacts

__all__ = [
    "LIMITS",
    "TEMPLATES",
    "ChannelConfigError",
    "ChannelSpec",
    "Composer",
    "Piece",
    "ReleaseFacts",
    "load_channels",
    "load_robot_env",
]
