#!/bin/bash
# usage: run1.sh NAME DEPTHS SEEDS [extra bench flags...]: one probe/final part, JSON + log under s4/
source "$(dirname "$0")/common.sh"
name=$1; depths=$2; seeds=$3; shift 3
echo "== $name depths=$depths seeds=$seeds extra: $*"
$DEEP --depths $depths --seeds $seeds "$@" --out $P/$name.json
date -u; uptime
