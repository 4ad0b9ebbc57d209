"""The keys the local twin prints are pasted after `--function-key` and `--endpoint-key`: one that began with "-"
(one urlsafe token in 64) was read by argparse as an option and the smoke command ended with a usage error."""

from __future__ import annotations

import re

from local_mode.__main__ import parser
from local_mode.functions_host import FunctionsHost
from shared.adapters.local_endpoint import LocalEndpoints
from shared.settings import Settings
from tests.fakes.memory import MemoryBlobStore


def test_the_keys_the_twin_prints_pass_through_the_smoke_command_line(tmp_path):
    host = FunctionsHost()
    try:
        keys = [host.key,
                LocalEndpoints(MemoryBlobStore(), Settings(), tmp_path).key]
    finally:
        host.close()
    for key in keys:
        assert re.fullmatch(r"[0-9a-f]{48}", key), key
    args = parser().parse_args(["smoke", "--function-key", keys[0], "--endpoint-key", keys[1]])
    assert (args.function_key, args.endpoint_key) == tuple(keys)
