#!/usr/bin/env bash
# doc_links.sh - every link in the Markdown files (README.md, docs/, tests/, data/) names a
# file that exists and, with a #fragment, a heading of that file (tests/doc_links.py).
# Run from the repository root, as make check does.
set -u
exec /usr/bin/python3 tests/doc_links.py .
