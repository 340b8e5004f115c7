import { aws_lambda as lambda, aws_s3 as s3, Aws, Stack, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/**
 * Where the provider's code comes from: the `bootstrap.zip` that `make package` builds
 * (`target/lambda/bootstrap/bootstrap.zip`), as an asset of the stack, or a copy already uploaded
 * to S3. Both functions (the provider and `AutoApply`) run the same code.
 */
export abstract class ProviderCode {
  /**
   * The zip at `path`, uploaded with the stack's assets by `cdk deploy` (the bootstrap's asset
   * bucket of each environment). One upload per stack, whichever functions use it.
   */
  public static fromAsset(path: string): ProviderCode {
    return new AssetProviderCode(path);
  }

  /** A zip already uploaded to `bucket` (in the stack's region: Lambda reads code from its own region). */
  public static fromBucket(bucket: s3.IBucket, key: string, objectVersion?: string): ProviderCode {
    return new BucketProviderCode(() => lambda.Code.fromBucket(bucket, key, objectVersion));
  }

  /**
   * A zip already uploaded to the regional bucket `<bucketPrefix>-<region>` (`cfn/code-buckets.yaml`
   * makes them), under `key` (`make package` prints it: `applied-archive-rule/bootstrap-<hash>.zip`).
   * The region is the stack's, so one app deploys to every region from one set of buckets.
   */
  public static fromRegionalBucket(bucketPrefix: string, key: string): ProviderCode {
    if (!Token.isUnresolved(bucketPrefix) && !/^[a-z0-9][a-z0-9.-]{1,40}[a-z0-9]$/.test(bucketPrefix)) {
      throw new Error(`bucketPrefix ${JSON.stringify(bucketPrefix)} cannot start a bucket name "<prefix>-<region>" (3-42 characters: a-z 0-9 . -)`);
    }
    if (!Token.isUnresolved(key) && !/^[A-Za-z0-9!_.*'()/-]+\.zip$/.test(key)) {
      throw new Error(`key ${JSON.stringify(key)} is not the key of a zip (e.g. applied-archive-rule/bootstrap-0123456789abcdef.zip)`);
    }
    return new BucketProviderCode(() => new RegionalBucketCode(bucketPrefix, key));
  }

  /** The Lambda code for a function in `scope`'s stack. */
  public abstract bind(scope: Construct): lambda.Code;
}

class AssetProviderCode extends ProviderCode {
  // An asset belongs to one stack; each stack that runs the code gets its own (same hash, so the
  // same object in the asset bucket).
  private readonly byStack = new Map<Stack, lambda.Code>();

  constructor(private readonly path: string) {
    super();
  }

  public bind(scope: Construct): lambda.Code {
    const stack = Stack.of(scope);
    let code = this.byStack.get(stack);
    if (code === undefined) {
      code = lambda.Code.fromAsset(this.path);
      this.byStack.set(stack, code);
    }
    return code;
  }
}

class BucketProviderCode extends ProviderCode {
  constructor(private readonly make: () => lambda.Code) {
    super();
  }

  public bind(_scope: Construct): lambda.Code {
    return this.make();
  }
}

class RegionalBucketCode extends lambda.Code {
  constructor(private readonly bucketPrefix: string, private readonly key: string) {
    super();
  }

  public bind(_scope: Construct): lambda.CodeConfig {
    return {
      s3Location: { bucketName: `${this.bucketPrefix}-${Aws.REGION}`, objectKey: this.key },
    };
  }
}
