#!/bin/sh
echo "hello $1"
echo "second arg: $2"
