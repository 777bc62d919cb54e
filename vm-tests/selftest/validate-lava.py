#!/usr/bin/env python3
"""Validates the LAVA files with LAVA's own schemas (Debian package lava-common): the test definition with
lava_common.schemas.test.testdef, the example job with lava_common.schemas.validate (strict)."""
import pathlib
import sys

import yaml
from lava_common.schemas import validate as validate_job
from lava_common.schemas.test.testdef import validate as validate_testdef

here = pathlib.Path(__file__).resolve().parent
validate_testdef(yaml.safe_load((here / "lava-veth-txq.yaml").read_text()))
print("lava-veth-txq.yaml: valid LAVA test definition")
validate_job(yaml.safe_load((here / "lava-job-qemu.yaml").read_text()), strict=True)
print("lava-job-qemu.yaml: valid LAVA job")
sys.exit(0)
