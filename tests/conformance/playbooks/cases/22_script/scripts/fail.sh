#!/bin/sh
echo "about to fail"
echo "oops" >&2
exit 7
