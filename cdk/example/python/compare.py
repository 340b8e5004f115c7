"""Checks that the Python example synthesized the TypeScript example's template.

    compare.py TYPESCRIPT_TEMPLATE PYTHON_TEMPLATE

Only what depends on where each app ran is left out: the construct paths and asset paths CDK
records in each resource's Metadata. Everything CloudFormation deploys must be equal.
"""

import difflib
import json
import sys

LOCAL_METADATA = ("aws:cdk:path", "aws:asset:path", "aws:asset:is-bundled", "aws:asset:property")


def deployable(path):
    with open(path, encoding="utf-8") as f:
        template = json.load(f)
    for resource in template.get("Resources", {}).values():
        metadata = resource.get("Metadata", {})
        for key in LOCAL_METADATA:
            metadata.pop(key, None)
        if not metadata:
            resource.pop("Metadata", None)
    return template


def main():
    typescript, python = (deployable(p) for p in sys.argv[1:3])
    ts_types = sorted(r["Type"] for r in typescript["Resources"].values())
    print(f"{len(ts_types)} resources in the TypeScript example's template, "
          f"{len(python['Resources'])} in the Python example's")
    if typescript == python:
        print("the Python example synthesizes the same template")
        return 0
    diff = difflib.unified_diff(
        json.dumps(typescript, indent=1, sort_keys=True).splitlines(),
        json.dumps(python, indent=1, sort_keys=True).splitlines(),
        "typescript", "python", lineterm="",
    )
    print("\n".join(diff))
    return 1


if __name__ == "__main__":
    sys.exit(main())
