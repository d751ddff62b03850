"""unmap_stage2_fuzzer: stage-2 teardown on every platform, realistic programs.

A libFuzzer target for ClusterFuzzLite and OSS-Fuzz (.clusterfuzzlite/build.sh
builds it with compile_python_fuzzer).  It raises on a finding that
corpus/known.txt does not list, with the .ops reproducer as the message; see
unmapfuzz.campaign.service.  Locally, with the flags the service uses:

    python fuzzers/unmap_stage2_fuzzer.py CORPUS_DIR -runs=1000 -artifact_prefix=out/crashes/
"""
import sys

from unmapfuzz.campaign.service_target import main

if __name__ == "__main__":
    main("unmap_stage2_fuzzer", sys.argv)
