#!/bin/sh
# Before provisioning: the preflight (python -m local_mode preflight --azure) checks the subscription azd targets —
# providers, Azure ML quota and VM sizes in the region, Flex Consumption there, the offer's ACR Tasks (and which
# build path fits instead), feature registration for the Kubernetes option, az signed in to the same subscription
# and tenant — and stops azd up in its first minute with the fix, instead of a late, cryptic failure.
# SKIP_PREFLIGHT=true skips it.
set -eu
[ "${SKIP_PREFLIGHT:-false}" = "true" ] && exit 0
[ -x .venv/bin/python ] || bash scripts/setup_env.sh
.venv/bin/python -m local_mode preflight --azure
