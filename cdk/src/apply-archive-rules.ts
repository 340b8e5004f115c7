import { aws_accessanalyzer as accessanalyzer, Duration, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { AnalyzerRef } from './analyzer-ref';
import { applyLimits, providerResource } from './custom-resource';
import { ArchiveRuleProvider } from './provider';
import { checkRuleNames } from './validate';

/** Properties of an {@link ApplyArchiveRules}. */
export interface ApplyArchiveRulesProps {
  /**
   * The analyzer whose rules are applied.
   * @default - the analyzer of `rules` (required when `rules` is not given)
   */
  readonly analyzer?: AnalyzerRef;

  /**
   * Rules declared in this app with `CfnArchiveRule`: applied by name, after they exist (the
   * resource depends on them). Inline rules of a `CfnAnalyzer` (`archiveRules`) exist with the
   * analyzer: give `analyzer: AnalyzerRef.fromCfnAnalyzer(...)` and their names in `ruleNames`, or
   * neither to apply every rule.
   * @default - none
   */
  readonly rules?: accessanalyzer.CfnArchiveRule[];

  /**
   * Names of rules that exist already, besides `rules`.
   * @default - none; with no `rules` either, every rule of the analyzer
   */
  readonly ruleNames?: string[];

  /**
   * How long to wait until the matched findings read ARCHIVED (0–900 s, whole seconds; 0: do not
   * wait).
   * @default Duration.seconds(60)
   */
  readonly archiveTimeout?: Duration;

  /**
   * A guard: if the rules together match more distinct ACTIVE findings, nothing is applied and the
   * operation fails.
   * @default - no limit
   */
  readonly maxFindingsToArchive?: number;

  /**
   * Any string; changing it applies the rules again.
   * @default - none
   */
  readonly revision?: string;

  /**
   * The provider that serves the resource.
   * @default - the stack's provider, `ArchiveRuleProvider.of(stack)`
   */
  readonly provider?: ArchiveRuleProvider;

  /**
   * The `ServiceToken` of a provider deployed otherwise (`cfn/provider.yaml`'s export), instead of
   * `provider`.
   * @default - the provider's
   */
  readonly serviceToken?: string;
}

/**
 * Applies archive rules that exist already — declared natively with `CfnArchiveRule` or a
 * `CfnAnalyzer`'s `archiveRules`, or made by hand — to the existing findings, without owning them
 * (`Custom::ApplyArchiveRules`). Create and Update apply and verify; Delete does nothing.
 */
export class ApplyArchiveRules extends Construct {
  /** How many rules were applied. */
  public readonly rulesApplied: string;
  /** Distinct ACTIVE findings the rules matched just before the apply. */
  public readonly matchedFindings: string;
  /** Of those, how many read ARCHIVED when the operation finished. */
  public readonly archivedFindings: string;
  /** Matched findings still ACTIVE when the wait ended. */
  public readonly pendingFindings: string;
  /** `"true"` when a read after the apply produced the counts. */
  public readonly verified: string;

  constructor(scope: Construct, id: string, props: ApplyArchiveRulesProps) {
    super(scope, id);
    const rules = props.rules ?? [];
    const analyzer = props.analyzer ?? analyzerOfRules(this, rules);
    checkRulesBelongTo(this, analyzer, rules);
    const ruleNames = props.rules === undefined && props.ruleNames === undefined
      ? undefined
      : [...rules.map((rule) => rule.ruleName), ...(props.ruleNames ?? [])];
    if (ruleNames !== undefined) {
      checkRuleNames(this, ruleNames);
    }
    const resource = providerResource(this, props, 'Custom::ApplyArchiveRules', {
      ...analyzer._properties(this),
      RuleNames: ruleNames,
      ...applyLimits(this, props.archiveTimeout, props.maxFindingsToArchive),
      Revision: props.revision,
    });
    // The names are plain strings: without this, CloudFormation could apply before the rules exist.
    for (const rule of rules) {
      resource.node.addDependency(rule);
    }
    this.rulesApplied = resource.getAttString('RulesApplied');
    this.matchedFindings = resource.getAttString('MatchedFindings');
    this.archivedFindings = resource.getAttString('ArchivedFindings');
    this.pendingFindings = resource.getAttString('PendingFindings');
    this.verified = resource.getAttString('Verified');
  }
}

function analyzerOfRules(scope: Construct, rules: accessanalyzer.CfnArchiveRule[]): AnalyzerRef {
  if (rules.length === 0) {
    throw new Error(`ApplyArchiveRules ${scope.node.path} needs an analyzer: give analyzer, or rules to take it from`);
  }
  return AnalyzerRef.fromName(rules[0].analyzerName);
}

/** One resource applies the rules of one analyzer. */
function checkRulesBelongTo(scope: Construct, analyzer: AnalyzerRef, rules: accessanalyzer.CfnArchiveRule[]): void {
  const expected = analyzer._literalName;
  for (const rule of rules) {
    const name = rule.analyzerName;
    if (expected !== undefined && !Token.isUnresolved(name) && name !== expected) {
      throw new Error(`ApplyArchiveRules ${scope.node.path}: rule ${rule.node.path} belongs to analyzer ${JSON.stringify(name)}, not ${JSON.stringify(expected)}; one ApplyArchiveRules applies the rules of one analyzer`);
    }
  }
}
