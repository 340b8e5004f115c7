import { aws_accessanalyzer as accessanalyzer, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { checkAnalyzerArn, checkAnalyzerName } from './validate';

/**
 * The analyzer an archive rule belongs to: by name, by ARN, or a `CfnAnalyzer` of this app.
 *
 * A token string cannot say whether it holds a name or an ARN, so the choice is made here, and the
 * custom resource receives `AnalyzerName` or `AnalyzerArn` accordingly. The provider acts in its
 * own account and region: an ARN elsewhere fails the stack operation.
 */
export class AnalyzerRef {
  /**
   * An analyzer of the stack's account and region, by name (`[A-Za-z_][A-Za-z0-9_.-]*`,
   * 1–255 characters).
   */
  public static fromName(analyzerName: string): AnalyzerRef {
    return new AnalyzerRef(analyzerName, undefined, undefined);
  }

  /** An analyzer by ARN (`arn:<partition>:access-analyzer:<region>:<account>:analyzer/<name>`). */
  public static fromArn(analyzerArn: string): AnalyzerRef {
    return new AnalyzerRef(undefined, analyzerArn, undefined);
  }

  /**
   * An analyzer declared in this app. Its `Ref` is its ARN, so the custom resource receives
   * `AnalyzerArn` as that `Ref`, which makes CloudFormation create it after the analyzer and delete
   * it before.
   */
  public static fromCfnAnalyzer(analyzer: accessanalyzer.CfnAnalyzer): AnalyzerRef {
    return new AnalyzerRef(undefined, analyzer.ref, analyzer);
  }

  /** The `AnalyzerName` sent to the provider, when the analyzer is given by name. */
  public readonly analyzerName?: string;
  /** The `AnalyzerArn` sent to the provider, when the analyzer is given by ARN or as a `CfnAnalyzer`. */
  public readonly analyzerArn?: string;
  /** The `CfnAnalyzer`, when the analyzer is declared in this app. */
  public readonly cfnAnalyzer?: accessanalyzer.CfnAnalyzer;

  private constructor(analyzerName?: string, analyzerArn?: string, cfnAnalyzer?: accessanalyzer.CfnAnalyzer) {
    this.analyzerName = analyzerName;
    this.analyzerArn = analyzerArn;
    this.cfnAnalyzer = cfnAnalyzer;
  }

  /** @internal The custom resource's analyzer properties, after the synth-time checks. */
  public _properties(scope: IConstruct): { [key: string]: string } {
    if (this.analyzerName !== undefined) {
      checkAnalyzerName(scope, 'AnalyzerName', this.analyzerName);
      return { AnalyzerName: this.analyzerName };
    }
    checkAnalyzerArn(scope, this.analyzerArn!);
    return { AnalyzerArn: this.analyzerArn! };
  }

  /**
   * @internal The analyzer's name when it is known at synth time (a literal name, or a `CfnAnalyzer`
   * with a literal `analyzerName`), to compare with the analyzer of a `CfnArchiveRule`.
   */
  public get _literalName(): string | undefined {
    const name = this.analyzerName ?? this.cfnAnalyzer?.analyzerName
      ?? (this.analyzerArn && !Token.isUnresolved(this.analyzerArn) ? this.analyzerArn.split('/')[1] : undefined);
    return name === undefined || Token.isUnresolved(name) ? undefined : name;
  }
}
