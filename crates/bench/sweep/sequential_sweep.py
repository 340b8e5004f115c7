"""The seed's approach to applying an archive rule across an Organization, transcribed as such
scripts are written today: one account after another, one region after another, a new client per
region, one `ApplyArchiveRule` each. It is the baseline of `make bench-sweep`
(crates/bench/sweep/bench_sweep.py), not something to run in production.

    list_accounts (every page)
      for each ACTIVE account:       sts:AssumeRole OrganizationAccountAccessRole
        ec2:DescribeRegions           (the regions enabled in that account)
        for each region:              a new accessanalyzer client with the assumed credentials
          ApplyArchiveRule(arn:aws:access-analyzer:REGION:ACCOUNT:analyzer/NAME, RULE)

The role is assumed in every account, the management account included, as these scripts usually
do (`--skip-management` leaves the caller's own account out instead). Nothing is counted or
verified: the script trusts `ApplyArchiveRule`, which is asynchronous on AWS.

Credentials, region and endpoint come from the standard environment (AWS_ACCESS_KEY_ID,
AWS_REGION, AWS_ENDPOINT_URL, ...). Prints one JSON line: accounts, targets, applied, failed.
"""

import argparse
import json
import sys

import boto3
from botocore.exceptions import ClientError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role-name", default="OrganizationAccountAccessRole")
    parser.add_argument("--analyzer", default="account-analyzer")
    parser.add_argument("--rule", default="vendor-roles")
    parser.add_argument("--skip-management", action="store_true",
                        help="leave the caller's own account out instead of assuming the role in it")
    args = parser.parse_args()

    organizations = boto3.client("organizations")
    sts = boto3.client("sts")
    caller = sts.get_caller_identity()["Account"] if args.skip_management else None
    accounts = []
    for page in organizations.get_paginator("list_accounts").paginate():
        accounts.extend(a["Id"] for a in page["Accounts"] if a.get("Status") == "ACTIVE")

    summary = {"accounts": 0, "targets": 0, "applied": 0, "failed": []}
    for account in accounts:
        if account == caller:
            continue
        assumed = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{args.role_name}",
            RoleSessionName="apply-archive-rule",
        )["Credentials"]
        credentials = {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
        summary["accounts"] += 1
        ec2 = boto3.client("ec2", **credentials)
        regions = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]
        for region in regions:
            summary["targets"] += 1
            client = boto3.client("accessanalyzer", region_name=region, **credentials)
            arn = f"arn:aws:access-analyzer:{region}:{account}:analyzer/{args.analyzer}"
            try:
                client.apply_archive_rule(analyzerArn=arn, ruleName=args.rule)
                summary["applied"] += 1
            except ClientError as e:
                print(f"{account} {region}: {e}", file=sys.stderr)
                summary["failed"].append(f"{account}/{region}")
    print(json.dumps(summary))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
