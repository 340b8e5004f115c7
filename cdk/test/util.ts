import * as path from 'path';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { Template } from 'aws-cdk-lib/assertions';
import { ArchiveRuleProvider, ProviderCode } from '../src';

/**
 * A directory standing in for `make package`'s bootstrap.zip: the tests need no Cargo output, and
 * an asset directory needs no Docker.
 */
export const PLACEHOLDER_CODE = path.join(__dirname, 'placeholder-code');

export function placeholderCode(): ProviderCode {
  return ProviderCode.fromAsset(PLACEHOLDER_CODE);
}

/** An environment-agnostic stack: account, region and partition stay pseudo parameters. */
export function newStack(id = 'TestStack'): Stack {
  return new Stack(new App(), id);
}

/** A stack with its provider. */
export function stackWithProvider(): { stack: Stack; provider: ArchiveRuleProvider } {
  const stack = newStack();
  const provider = ArchiveRuleProvider.of(stack, { code: placeholderCode() });
  return { stack, provider };
}

/** The one resource of `type` in the template, with its logical id. */
export function onlyResource(template: Template, type: string): { id: string; resource: any } {
  const resources = template.findResources(type);
  const ids = Object.keys(resources);
  expect(ids).toHaveLength(1);
  return { id: ids[0], resource: resources[ids[0]] };
}

/** The logical id of `construct`'s CloudFormation resource (following default children). */
export function logicalId(construct: IConstruct): string {
  let element: IConstruct | undefined = construct;
  while (element !== undefined && !CfnElement.isCfnElement(element)) {
    element = element.node.defaultChild;
  }
  if (element === undefined) {
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  }
  return Stack.of(construct).resolve((element as CfnElement).logicalId);
}

/** An access-analyzer ARN of the stack's own partition, region and account, as synthesized. */
export function accessAnalyzerArn(resource: string): any {
  return {
    'Fn::Join': ['', [
      'arn:', { Ref: 'AWS::Partition' }, ':access-analyzer:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' },
      `:${resource}`,
    ]],
  };
}

/** The statement both roles have on analyzers. */
export function analyzersStatement(resource: any): any {
  return {
    Sid: 'Analyzers',
    Effect: 'Allow',
    Action: [
      'access-analyzer:ApplyArchiveRule',
      'access-analyzer:ListFindings',
      'access-analyzer:ListArchiveRules',
      'access-analyzer:GetAnalyzer',
    ],
    Resource: resource,
  };
}
