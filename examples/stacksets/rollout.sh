#!/usr/bin/env bash
# Rolls Custom::AppliedArchiveRule out to an AWS Organization with a service-managed StackSet.
#
# NEEDS AN AWS ACCOUNT. Run it with credentials of the organization's management account, or of a
# CloudFormation StackSets delegated administrator with CALL_AS=DELEGATED_ADMIN. Trusted access for
# StackSets must be enabled (see README.md next to this script). Nothing here runs against the
# local emulator.
#
# What it does, in order:
#   1. builds the zip if it is missing (make package)
#   2. per region: deploys cfn/code-buckets.yaml (bucket <BUCKET_PREFIX>-<region>, readable by the
#      organization) and checks that this account owns the bucket: Lambda only reads code from a
#      bucket in its own region, and a region whose bucket name nobody claimed would run the code of
#      whoever claims it, so every bucket exists before the stack set reaches its region
#   3. with SIGNING_PROFILE_NAME: signs the zip with AWS Signer in the first region's bucket, and
#      the stack instances enforce that profile (cfn/stackset.yaml SigningProfileVersionArn)
#   4. uploads the zip to every region's bucket, named by content:
#      applied-archive-rule/bootstrap-<first 16 hex chars of its sha256>.zip
#   5. creates the stack set from cfn/stackset.yaml and its stack instances in the given OUs and
#      regions, or, when the stack set exists, updates it (new code key, new parameters) everywhere
#   6. waits for the operation and prints the accounts and regions that did not succeed
#
# Usage (all settings are environment variables):
#   BUCKET_PREFIX=acme-aar-code OU_IDS=ou-ab12-11111111,ou-ab12-22222222 \
#   REGIONS="us-east-1 eu-west-1" examples/stacksets/rollout.sh
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

: "${BUCKET_PREFIX:?set BUCKET_PREFIX, e.g. acme-aar-code (buckets are <prefix>-<region>, globally unique)}"
: "${OU_IDS:?set OU_IDS to comma-separated organizational unit ids (or the root id r-xxxx)}"
REGIONS=${REGIONS:-"us-east-1 eu-west-1"}
# The region the stack set itself lives in (its "home" region).
HOME_REGION=${HOME_REGION:-us-east-1}
STACK_SET_NAME=${STACK_SET_NAME:-applied-archive-rule}
BUCKET_STACK_NAME=${BUCKET_STACK_NAME:-applied-archive-rule-code-bucket}
# SELF from the management account, DELEGATED_ADMIN from a delegated administrator account.
CALL_AS=${CALL_AS:-SELF}
# Stop the rollout when more than this share of the accounts of a region fails...
FAILURE_TOLERANCE_PERCENTAGE=${FAILURE_TOLERANCE_PERCENTAGE:-10}
# ...and deploy to at most this share of the accounts at a time (the regions run in parallel).
MAX_CONCURRENT_PERCENTAGE=${MAX_CONCURRENT_PERCENTAGE:-25}
# Parameters of cfn/stackset.yaml.
CREATE_ANALYZER=${CREATE_ANALYZER:-false}
ANALYZER_NAME=${ANALYZER_NAME:-account-analyzer}
VENDOR_AUDIT_PRINCIPALS=${VENDOR_AUDIT_PRINCIPALS:-}
TRUSTED_ORGANIZATION_ID=${TRUSTED_ORGANIZATION_ID:-}
MAX_FINDINGS_TO_ARCHIVE=${MAX_FINDINGS_TO_ARCHIVE:-}
RULE_REVISION=${RULE_REVISION:-1}
# Up to 5 analyzer names (comma-separated, include ANALYZER_NAME) that the role is narrowed to;
# empty: every analyzer of each account and region.
ANALYZER_NAMES=${ANALYZER_NAMES:-}
RESERVED_CONCURRENT_EXECUTIONS=${RESERVED_CONCURRENT_EXECUTIONS:-}
# An AWS Signer profile (platform AWSLambda-SHA384-ECDSA, docs/deploy.md "Signing the code") in
# the first region of REGIONS; empty: the code is not signed.
SIGNING_PROFILE_NAME=${SIGNING_PROFILE_NAME:-}
# Auto-apply (docs/deploy.md "Auto-apply"): AUTO_APPLY=true deploys the second function in every
# instance; it needs AUTO_APPLY_PRINCIPALS (role ARN patterns, e.g. arn:aws:iam::*:role/pipelines/*)
# or AUTO_APPLY_MAX_FINDINGS, and RECONCILE_SCHEDULE (e.g. "rate(1 day)") only without principals.
AUTO_APPLY=${AUTO_APPLY:-false}
AUTO_APPLY_PRINCIPALS=${AUTO_APPLY_PRINCIPALS:-}
AUTO_APPLY_MAX_FINDINGS=${AUTO_APPLY_MAX_FINDINGS:-}
RECONCILE_SCHEDULE=${RECONCILE_SCHEDULE:-}
AUTO_APPLY_KEEP_FAILED_EVENTS=${AUTO_APPLY_KEEP_FAILED_EVENTS:-false}

ORGANIZATION_ID=${ORGANIZATION_ID:-$(aws organizations describe-organization \
  --query Organization.Id --output text)}
ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text)
read -r -a REGION_LIST <<<"$REGIONS"

# 1. The zip.
ZIP=$REPO_ROOT/target/lambda/bootstrap/bootstrap.zip
if [[ ! -f $ZIP ]]; then
  make -C "$REPO_ROOT" package
fi

# 2. A code bucket in every region, all of them before the stack set is created or updated.
for region in "${REGION_LIST[@]}"; do
  aws cloudformation deploy \
    --region "$region" \
    --stack-name "$BUCKET_STACK_NAME" \
    --template-file "$REPO_ROOT/cfn/code-buckets.yaml" \
    --parameter-overrides "BucketPrefix=$BUCKET_PREFIX" "OrganizationId=$ORGANIZATION_ID" \
    --no-fail-on-empty-changeset
  # Fails (403) unless this account owns the bucket.
  aws s3api head-bucket --region "$region" --bucket "$BUCKET_PREFIX-$region" \
    --expected-bucket-owner "$ACCOUNT_ID"
done

# 3. Optionally, sign it. AWS Signer reads a versioned object and writes the signed zip beside it.
SIGNING_PROFILE_VERSION_ARN=
if [[ -n $SIGNING_PROFILE_NAME ]]; then
  sign_region=${REGION_LIST[0]}
  sign_bucket=$BUCKET_PREFIX-$sign_region
  unsigned_key=unsigned/bootstrap-$(sha256sum "$ZIP" | cut -c1-16).zip
  aws s3 cp "$ZIP" "s3://$sign_bucket/$unsigned_key" --region "$sign_region"
  version_id=$(aws s3api head-object --region "$sign_region" --bucket "$sign_bucket" \
    --key "$unsigned_key" --query VersionId --output text)
  job_id=$(aws signer start-signing-job --region "$sign_region" \
    --profile-name "$SIGNING_PROFILE_NAME" \
    --source "s3={bucketName=$sign_bucket,key=$unsigned_key,version=$version_id}" \
    --destination "s3={bucketName=$sign_bucket,prefix=signed/}" \
    --query jobId --output text)
  aws signer wait successful-signing-job --region "$sign_region" --job-id "$job_id"
  signed_key=$(aws signer describe-signing-job --region "$sign_region" --job-id "$job_id" \
    --query signedObject.s3.key --output text)
  SIGNED_ZIP=$(dirname "$ZIP")/bootstrap-signed.zip
  aws s3 cp "s3://$sign_bucket/$signed_key" "$SIGNED_ZIP" --region "$sign_region"
  ZIP=$SIGNED_ZIP
  SIGNING_PROFILE_VERSION_ARN=$(aws signer get-signing-profile --region "$sign_region" \
    --profile-name "$SIGNING_PROFILE_NAME" --query profileVersionArn --output text)
  echo "signed by $SIGNING_PROFILE_VERSION_ARN (job $job_id)"
fi

# 4. The same zip under the same key in every region, named by its content so that CloudFormation
# sees new code as a changed parameter.
HASH=$(sha256sum "$ZIP" | cut -c1-16)
CODE_KEY=applied-archive-rule/bootstrap-$HASH.zip
echo "code: $ZIP -> $CODE_KEY"
for region in "${REGION_LIST[@]}"; do
  aws s3 cp "$ZIP" "s3://$BUCKET_PREFIX-$region/$CODE_KEY" --region "$region"
done

# 5. The stack set. Parameters go through a JSON file so that list values keep their commas.
PARAMS=$(mktemp)
trap 'rm -f "$PARAMS"' EXIT
cat >"$PARAMS" <<EOF
[
  {"ParameterKey": "CodeBucketPrefix", "ParameterValue": "$BUCKET_PREFIX"},
  {"ParameterKey": "CodeKey", "ParameterValue": "$CODE_KEY"},
  {"ParameterKey": "CreateAnalyzer", "ParameterValue": "$CREATE_ANALYZER"},
  {"ParameterKey": "AnalyzerName", "ParameterValue": "$ANALYZER_NAME"},
  {"ParameterKey": "VendorAuditPrincipals", "ParameterValue": "$VENDOR_AUDIT_PRINCIPALS"},
  {"ParameterKey": "TrustedOrganizationId", "ParameterValue": "$TRUSTED_ORGANIZATION_ID"},
  {"ParameterKey": "MaxFindingsToArchive", "ParameterValue": "$MAX_FINDINGS_TO_ARCHIVE"},
  {"ParameterKey": "RuleRevision", "ParameterValue": "$RULE_REVISION"},
  {"ParameterKey": "AnalyzerNames", "ParameterValue": "$ANALYZER_NAMES"},
  {"ParameterKey": "ReservedConcurrentExecutions", "ParameterValue": "$RESERVED_CONCURRENT_EXECUTIONS"},
  {"ParameterKey": "SigningProfileVersionArn", "ParameterValue": "$SIGNING_PROFILE_VERSION_ARN"},
  {"ParameterKey": "AutoApply", "ParameterValue": "$AUTO_APPLY"},
  {"ParameterKey": "AutoApplyPrincipals", "ParameterValue": "$AUTO_APPLY_PRINCIPALS"},
  {"ParameterKey": "AutoApplyMaxFindings", "ParameterValue": "$AUTO_APPLY_MAX_FINDINGS"},
  {"ParameterKey": "ReconcileSchedule", "ParameterValue": "$RECONCILE_SCHEDULE"},
  {"ParameterKey": "AutoApplyKeepFailedEvents", "ParameterValue": "$AUTO_APPLY_KEEP_FAILED_EVENTS"}
]
EOF

# REGION_LIST (above) is the region list as the CLI wants it (--regions r1 r2 ...).
PREFERENCES="FailureTolerancePercentage=$FAILURE_TOLERANCE_PERCENTAGE,MaxConcurrentPercentage=$MAX_CONCURRENT_PERCENTAGE,RegionConcurrencyType=PARALLEL"

cfn() {
  aws cloudformation "$@" --region "$HOME_REGION" --call-as "$CALL_AS"
}

wait_for_operation() {
  local operation_id=$1 status
  echo "operation $operation_id: waiting"
  while true; do
    status=$(cfn describe-stack-set-operation --stack-set-name "$STACK_SET_NAME" \
      --operation-id "$operation_id" --query StackSetOperation.Status --output text)
    case $status in
      SUCCEEDED)
        echo "operation $operation_id: SUCCEEDED"
        return 0
        ;;
      FAILED | STOPPED)
        echo "operation $operation_id: $status; the instances that did not succeed:" >&2
        cfn list-stack-set-operation-results --stack-set-name "$STACK_SET_NAME" \
          --operation-id "$operation_id" \
          --query "Summaries[?Status!='SUCCEEDED'].[Account,Region,Status,StatusReason]" \
          --output table >&2
        return 1
        ;;
      *) sleep 20 ;;
    esac
  done
}

if cfn describe-stack-set --stack-set-name "$STACK_SET_NAME" >/dev/null 2>&1; then
  # Updating a service-managed stack set updates every stack instance it has.
  operation_id=$(cfn update-stack-set \
    --stack-set-name "$STACK_SET_NAME" \
    --template-body "file://$REPO_ROOT/cfn/stackset.yaml" \
    --parameters "file://$PARAMS" \
    --capabilities CAPABILITY_IAM \
    --operation-preferences "$PREFERENCES" \
    --query OperationId --output text)
  wait_for_operation "$operation_id"
  echo "updated. To add OUs or regions, run create-stack-instances (README.md)."
else
  cfn create-stack-set \
    --stack-set-name "$STACK_SET_NAME" \
    --description "Custom::AppliedArchiveRule: archive rules applied to existing findings" \
    --template-body "file://$REPO_ROOT/cfn/stackset.yaml" \
    --parameters "file://$PARAMS" \
    --permission-model SERVICE_MANAGED \
    --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false \
    --capabilities CAPABILITY_IAM \
    --managed-execution Active=true
  operation_id=$(cfn create-stack-instances \
    --stack-set-name "$STACK_SET_NAME" \
    --deployment-targets "OrganizationalUnitIds=$OU_IDS" \
    --regions "${REGION_LIST[@]}" \
    --operation-preferences "$PREFERENCES" \
    --query OperationId --output text)
  wait_for_operation "$operation_id"
fi
