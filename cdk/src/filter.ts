import { IConstruct } from 'constructs';
import { checkFilterKey, checkValues, fail } from './validate';

/** The operators of one filter key; at least one must be set. */
export interface CriterionOptions {
  /**
   * The key equals one of these values (1–20 non-empty strings).
   * @default - no `Eq` operator
   */
  readonly eq?: string[];
  /**
   * The key equals none of these values (1–20 non-empty strings).
   * @default - no `Neq` operator
   */
  readonly neq?: string[];
  /**
   * The key contains one of these values (1–20 non-empty strings).
   * @default - no `Contains` operator
   */
  readonly contains?: string[];
  /**
   * The key is present (`true`) or absent (`false`).
   * @default - no `Exists` operator
   */
  readonly exists?: boolean;
}

/**
 * The condition on one filter key of an archive rule, as `AWS::AccessAnalyzer::ArchiveRule`'s
 * `Filter` holds it: `Criterion.eq(['AWS::IAM::Role'])`, or several operators with `Criterion.of`.
 */
export class Criterion {
  /** The key equals one of `values`. */
  public static eq(values: string[]): Criterion {
    return new Criterion({ eq: values });
  }

  /** The key equals none of `values`. */
  public static neq(values: string[]): Criterion {
    return new Criterion({ neq: values });
  }

  /** The key contains one of `values`. */
  public static contains(values: string[]): Criterion {
    return new Criterion({ contains: values });
  }

  /** The key is present (`true`) or absent (`false`). */
  public static exists(exists: boolean): Criterion {
    return new Criterion({ exists });
  }

  /** Several operators on one key; every one must hold. */
  public static of(options: CriterionOptions): Criterion {
    return new Criterion(options);
  }

  /** The operators of this criterion. */
  public readonly options: CriterionOptions;

  private constructor(options: CriterionOptions) {
    this.options = options;
  }
}

/**
 * @internal The `Filter` property in the map shape (`{ key: { Eq: [...] } }`), after the checks the
 * provider would make of literal values.
 */
export function renderFilter(scope: IConstruct, filter: { [key: string]: Criterion }): { [key: string]: any } {
  const keys = Object.keys(filter);
  if (keys.length === 0) {
    fail(scope, 'Filter', 'must hold at least one criterion');
  }
  const rendered: { [key: string]: any } = {};
  for (const key of keys) {
    checkFilterKey(scope, key);
    const path = `Filter.${key}`;
    const { eq, neq, contains, exists } = filter[key].options;
    const operators: { [op: string]: any } = {};
    for (const [name, values] of [['Eq', eq], ['Neq', neq], ['Contains', contains]] as const) {
      if (values !== undefined) {
        checkValues(scope, `${path}.${name}`, values);
        operators[name] = values;
      }
    }
    if (exists !== undefined) {
      operators.Exists = exists;
    }
    if (Object.keys(operators).length === 0) {
      fail(scope, path, 'needs at least one operator: Eq, Neq, Contains or Exists');
    }
    rendered[key] = operators;
  }
  return rendered;
}
