import {
  aws_kms as kms, aws_lambda as lambda, aws_logs as logs, aws_s3 as s3, aws_signer as signer, Stack,
} from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ArchiveRuleProvider, ProviderCode } from '../src';
import { accessAnalyzerArn, analyzersStatement, logicalId, newStack, onlyResource, placeholderCode } from './util';

function providerTemplate(props: Partial<ConstructorParameters<typeof ArchiveRuleProvider>[2]> = {}) {
  const stack = newStack();
  const provider = ArchiveRuleProvider.of(stack, { code: placeholderCode(), ...props });
  return { stack, provider, template: Template.fromStack(stack) };
}

const arn = accessAnalyzerArn;

describe('ArchiveRuleProvider', () => {
  test('the function is the provider of cfn/provider.yaml: provided.al2023 on arm64, bootstrap, 300 s, 256 MB, JSON logs', () => {
    const { template, provider } = providerTemplate();
    const { resource } = onlyResource(template, 'AWS::Lambda::Function');
    expect(resource.Properties).toEqual(expect.objectContaining({
      FunctionName: 'applied-archive-rule-provider',
      Runtime: 'provided.al2023',
      Architectures: ['arm64'],
      Handler: 'bootstrap',
      Timeout: 300,
      MemorySize: 256,
      Role: { 'Fn::GetAtt': [logicalId(provider.role), 'Arn'] },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logicalId(provider.logGroup) } },
      Environment: { Variables: { APPLIED_ARCHIVE_RULE_ANALYZERS: '' } },
    }));
    expect(resource.Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(resource.Properties.CodeSigningConfigArn).toBeUndefined();
    expect(provider.timeout.toSeconds()).toBe(300);
  });

  test('serviceToken is the function ARN', () => {
    const { stack, provider } = providerTemplate();
    expect(stack.resolve(provider.serviceToken)).toEqual({ 'Fn::GetAtt': [logicalId(provider.function), 'Arn'] });
  });

  test('the log group is /aws/lambda/<function name>, kept 90 days, and goes with the stack', () => {
    const { template } = providerTemplate();
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: '/aws/lambda/applied-archive-rule-provider', RetentionInDays: 90 },
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
  });

  test('functionName, memorySize and logRetention are passed on', () => {
    const { template } = providerTemplate({
      functionName: 'aar-provider', memorySize: 512, logRetention: logs.RetentionDays.ONE_YEAR,
    });
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'aar-provider', MemorySize: 512 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/lambda/aar-provider', RetentionInDays: 365 });
  });

  test('the role has exactly three statements: rules, analyzers, its own log group; nothing is attached', () => {
    const { template, provider } = providerTemplate();
    const { resource } = onlyResource(template, 'AWS::IAM::Role');
    expect(resource.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    expect(resource.Properties.RoleName).toBeUndefined();
    expect(resource.Properties.ManagedPolicyArns).toBeUndefined();
    expect(resource.Properties.Policies).toEqual([{
      PolicyName: 'applied-archive-rule',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ArchiveRules',
            Effect: 'Allow',
            Action: [
              'access-analyzer:CreateArchiveRule',
              'access-analyzer:UpdateArchiveRule',
              'access-analyzer:GetArchiveRule',
              'access-analyzer:DeleteArchiveRule',
            ],
            Resource: arn('analyzer/*/archive-rule/*'),
          },
          analyzersStatement(arn('analyzer/*')),
          {
            Sid: 'Logs',
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [logicalId(provider.logGroup), 'Arn'] },
          },
        ],
      },
    }]);
    template.resourceCountIs('AWS::IAM::Policy', 0);
  });

  test('analyzerNames narrows the role to those analyzers and tells the function', () => {
    const { template } = providerTemplate({ analyzerNames: ['main', 'unused-access'] });
    const { resource } = onlyResource(template, 'AWS::IAM::Role');
    const [rules, analyzers] = resource.Properties.Policies[0].PolicyDocument.Statement;
    expect(rules.Resource).toEqual([arn('analyzer/main/archive-rule/*'), arn('analyzer/unused-access/archive-rule/*')]);
    expect(analyzers.Resource).toEqual([arn('analyzer/main'), arn('analyzer/unused-access')]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { APPLIED_ARCHIVE_RULE_ANALYZERS: 'main,unused-access' } },
    });
  });

  test('reservedConcurrentExecutions caps the function and drops the checkov skip for it', () => {
    const { template } = providerTemplate({ reservedConcurrentExecutions: 5 });
    const { resource } = onlyResource(template, 'AWS::Lambda::Function');
    expect(resource.Properties.ReservedConcurrentExecutions).toBe(5);
    const skipped = resource.Metadata.checkov.skip.map((s: any) => s.id);
    expect(skipped).not.toContain('CKV_AWS_115');
  });

  test('codeSigningConfig is passed on and drops the checkov skip for it', () => {
    const stack = newStack();
    const profile = new signer.SigningProfile(stack, 'Profile', { platform: signer.Platform.AWS_LAMBDA_SHA384_ECDSA });
    const config = new lambda.CodeSigningConfig(stack, 'Signing', {
      signingProfiles: [profile], untrustedArtifactOnDeployment: lambda.UntrustedArtifactOnDeployment.ENFORCE,
    });
    ArchiveRuleProvider.of(stack, { code: placeholderCode(), codeSigningConfig: config });
    const { resource } = onlyResource(Template.fromStack(stack), 'AWS::Lambda::Function');
    expect(resource.Properties.CodeSigningConfigArn).toEqual({ 'Fn::GetAtt': [logicalId(config), 'CodeSigningConfigArn'] });
    expect(resource.Metadata.checkov.skip.map((s: any) => s.id)).not.toContain('CKV_AWS_272');
  });

  test('logEncryptionKey encrypts the log group and drops the checkov skip for it', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key');
    ArchiveRuleProvider.of(stack, { code: placeholderCode(), logEncryptionKey: key });
    const { resource } = onlyResource(Template.fromStack(stack), 'AWS::Logs::LogGroup');
    expect(resource.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [logicalId(key), 'Arn'] });
    expect(resource.Metadata).toBeUndefined();
  });

  test('checkov skips carry a reason a reviewer can read', () => {
    const { template } = providerTemplate();
    const { resource } = onlyResource(template, 'AWS::Lambda::Function');
    const skips = resource.Metadata.checkov.skip;
    expect(skips.map((s: any) => s.id).sort()).toEqual(['CKV_AWS_115', 'CKV_AWS_116', 'CKV_AWS_117', 'CKV_AWS_173', 'CKV_AWS_272']);
    for (const skip of skips) {
      expect(skip.comment.length).toBeGreaterThan(40);
    }
    template.hasResource('AWS::Logs::LogGroup', {
      Metadata: { checkov: { skip: [{ id: 'CKV_AWS_158', comment: Match.stringLikeRegexp('logEncryptionKey') }] } },
    });
  });

  describe('code', () => {
    test('fromAsset uploads the zip with the stack assets', () => {
      const { template } = providerTemplate();
      template.hasResourceProperties('AWS::Lambda::Function', {
        Code: {
          S3Bucket: { 'Fn::Sub': Match.stringLikeRegexp('cdk-.*-assets-') },
          S3Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.zip$'),
        },
      });
    });

    test('fromBucket reads code already uploaded', () => {
      const stack = newStack();
      const bucket = s3.Bucket.fromBucketName(stack, 'Code', 'my-code-bucket');
      ArchiveRuleProvider.of(stack, { code: ProviderCode.fromBucket(bucket, 'applied-archive-rule/bootstrap-0123456789abcdef.zip', 'v1') });
      Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
        Code: { S3Bucket: 'my-code-bucket', S3Key: 'applied-archive-rule/bootstrap-0123456789abcdef.zip', S3ObjectVersion: 'v1' },
      });
    });

    test("fromRegionalBucket reads <prefix>-<region>, the stack's region", () => {
      const stack = newStack();
      ArchiveRuleProvider.of(stack, {
        code: ProviderCode.fromRegionalBucket('acme-aar-code', 'applied-archive-rule/bootstrap-0123456789abcdef.zip'),
      });
      Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
        Code: {
          S3Bucket: { 'Fn::Join': ['', ['acme-aar-code-', { Ref: 'AWS::Region' }]] },
          S3Key: 'applied-archive-rule/bootstrap-0123456789abcdef.zip',
        },
      });
    });

    test.each([
      ['Bad_Prefix', 'applied-archive-rule/bootstrap.zip', /bucketPrefix "Bad_Prefix" cannot start a bucket name/],
      ['acme', 'bootstrap.tar.gz', /key "bootstrap.tar.gz" is not the key of a zip/],
    ])('fromRegionalBucket refuses %j %j', (prefix, key, message) => {
      expect(() => ProviderCode.fromRegionalBucket(prefix, key)).toThrow(message);
    });
  });

  describe('one per stack', () => {
    test('of() creates the provider once and returns it after', () => {
      const stack = newStack();
      const first = ArchiveRuleProvider.of(stack, { code: placeholderCode() });
      expect(ArchiveRuleProvider.of(stack)).toBe(first);
      expect(first.node.path).toBe('TestStack/ArchiveRuleProvider');
      Template.fromStack(stack).resourceCountIs('AWS::Lambda::Function', 1);
    });

    test('of() from a nested construct finds the stack provider', () => {
      const stack = newStack();
      const provider = ArchiveRuleProvider.of(stack, { code: placeholderCode() });
      const nested = new logs.LogGroup(stack, 'Something');
      expect(ArchiveRuleProvider.of(nested)).toBe(provider);
    });

    test('a second set of props is refused rather than ignored', () => {
      const stack = newStack();
      ArchiveRuleProvider.of(stack, { code: placeholderCode() });
      expect(() => ArchiveRuleProvider.of(stack, { code: placeholderCode(), memorySize: 1024 }))
        .toThrow(/already has an ArchiveRuleProvider \(TestStack\/ArchiveRuleProvider\); pass its props only to the call that creates it/);
    });

    test('a second provider in the same stack is refused', () => {
      const stack = newStack();
      new ArchiveRuleProvider(stack, 'One', { code: placeholderCode() });
      expect(() => new ArchiveRuleProvider(stack, 'Two', { code: placeholderCode(), functionName: 'other' }))
        .toThrow(/already has an ArchiveRuleProvider \(TestStack\/One\); one per stack/);
      expect(ArchiveRuleProvider.of(stack).node.id).toBe('One');
    });

    test('two stacks have a provider each', () => {
      const stack = newStack('One');
      const other = new Stack(stack.node.scope!, 'Two');
      const code = placeholderCode();
      const a = ArchiveRuleProvider.of(stack, { code });
      const b = ArchiveRuleProvider.of(other, { code, functionName: 'provider-two' });
      expect(a).not.toBe(b);
      Template.fromStack(other).resourceCountIs('AWS::Lambda::Function', 1);
    });
  });

  describe('validation', () => {
    test.each([
      [{ memorySize: 64 }, /memorySize 64 .* must be a whole number of MB from 128 to 10240/],
      [{ memorySize: 20000 }, /memorySize 20000/],
      [{ functionName: 'has space' }, /functionName "has space" .* is not a function name/],
      [{ functionName: 'x'.repeat(65) }, /is not a function name/],
      [{ reservedConcurrentExecutions: 0 }, /reservedConcurrentExecutions 0 .* must be a whole number of at least 1/],
      [{ analyzerNames: [] }, /analyzerNames is empty/],
      [{ analyzerNames: ['ok', '9bad'] }, /invalid property analyzerNames\[1\] "9bad" is not a valid analyzer name/],
    ])('%j', (props, message) => {
      expect(() => providerTemplate(props as any)).toThrow(message);
    });
  });
});
