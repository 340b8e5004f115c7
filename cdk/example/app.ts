// The example app: every construct of the library in one stack, as a team would declare its
// Access Analyzer baseline. `make cdk-synth` synthesizes it into cdk.out/ (with a placeholder for
// the code); python/app.py is the same app in Python.
//
//   cdk deploy -c bootstrapZip=../../target/lambda/bootstrap/bootstrap.zip      (the zip as an asset)
//   cdk deploy -c codeBucketPrefix=acme-aar-code -c codeKey=applied-archive-rule/bootstrap-<hash>.zip
import * as fs from 'fs';
import * as path from 'path';
import {
  App, aws_accessanalyzer as accessanalyzer, CfnOutput, Duration, Stack,
} from 'aws-cdk-lib';
import {
  AnalyzerRef, AppliedArchiveRule, ApplyArchiveRules, ArchiveRuleProvider, AutoApply, Criterion, ProviderCode,
} from '..';

const app = new App();
const stack = new Stack(app, 'AppliedArchiveRuleExample', {
  description: 'Access Analyzer archive rules that also archive the findings that already exist',
});

// The code: a copy already in <prefix>-<region> buckets, or the zip `make package` builds.
function providerCode(): ProviderCode {
  const prefix = app.node.tryGetContext('codeBucketPrefix');
  const key = app.node.tryGetContext('codeKey');
  if (prefix !== undefined && key !== undefined) {
    return ProviderCode.fromRegionalBucket(prefix, key);
  }
  const zip = app.node.tryGetContext('bootstrapZip') ?? path.join(__dirname, '..', '..', 'target', 'lambda', 'bootstrap', 'bootstrap.zip');
  if (!fs.existsSync(zip)) {
    throw new Error(`no provider code at ${zip}: run \`make package\`, or pass -c bootstrapZip=PATH, or -c codeBucketPrefix=PREFIX -c codeKey=KEY`);
  }
  return ProviderCode.fromAsset(zip);
}

const provider = ArchiveRuleProvider.of(stack, { code: providerCode() });

const analyzer = new accessanalyzer.CfnAnalyzer(stack, 'AccountAnalyzer', {
  analyzerName: 'account-analyzer',
  type: 'ACCOUNT',
  // A rule declared natively, inline: it archives new findings only, until ApplyArchiveRules runs.
  archiveRules: [{
    ruleName: 'internal-kms-keys',
    filter: [
      { property: 'resourceType', eq: ['AWS::KMS::Key'] },
      { property: 'isPublic', eq: ['false'] },
    ],
  }],
});

// Create the rule and archive the matching findings that already exist, in one stack operation.
const vendorRoles = new AppliedArchiveRule(stack, 'IgnoreVendorRoles', {
  analyzer: AnalyzerRef.fromCfnAnalyzer(analyzer),
  ruleName: 'vendor-audit-roles',
  filter: {
    'resourceType': Criterion.eq(['AWS::IAM::Role']),
    'principal.AWS': Criterion.eq(['arn:aws:iam::444455556666:root']),
  },
  archiveTimeout: Duration.minutes(2),
  maxFindingsToArchive: 50,
  revision: '1',
});

new AppliedArchiveRule(stack, 'IgnorePrivateReportBuckets', {
  analyzer: AnalyzerRef.fromCfnAnalyzer(analyzer),
  ruleName: 'private-report-buckets',
  filter: {
    resourceType: Criterion.eq(['AWS::S3::Bucket']),
    resource: Criterion.contains(['reports']),
    isPublic: Criterion.of({ eq: ['false'], exists: true }),
  },
  adoptExisting: true,
  applyToExistingFindings: true,
});

// A rule declared with the L1 type, applied (with the inline one) by ApplyArchiveRules.
const nativeRule = new accessanalyzer.CfnArchiveRule(stack, 'PartnerQueues', {
  analyzerName: 'account-analyzer',
  ruleName: 'partner-queues',
  filter: { 'resourceType': { eq: ['AWS::SQS::Queue'] }, 'principal.AWS': { neq: ['*'] } },
});
nativeRule.node.addDependency(analyzer);
const applied = new ApplyArchiveRules(stack, 'ApplyNativeRules', {
  analyzer: AnalyzerRef.fromCfnAnalyzer(analyzer),
  rules: [nativeRule],
  ruleNames: ['internal-kms-keys'],
  archiveTimeout: Duration.seconds(90),
  maxFindingsToArchive: 200,
});

// Rules made by any other tool are applied as they are created or changed, by the pipeline roles.
new AutoApply(stack, 'AutoApply', {
  provider,
  principals: ['arn:aws:iam::*:role/security-pipeline-*'],
  maxFindings: 200,
  keepFailedEvents: true,
});

new CfnOutput(stack, 'VendorRolesArchived', { value: vendorRoles.archivedFindings });
new CfnOutput(stack, 'VendorRolesVerified', { value: vendorRoles.verified });
new CfnOutput(stack, 'NativeRulesArchived', { value: applied.archivedFindings });
new CfnOutput(stack, 'ServiceToken', { value: provider.serviceToken });

app.synth();
