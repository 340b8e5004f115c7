// Just enough of CloudFormation to evaluate a template's intrinsic functions for given parameters,
// so that a YAML template written by hand and a template the constructs synthesize can be compared
// by the values they produce rather than by their spelling.

import * as fs from 'fs';
import * as YAML from 'yaml';

const FUNCTIONS = [
  'Ref', 'Condition', 'Sub', 'GetAtt', 'If', 'Not', 'Equals', 'And', 'Or', 'Select', 'Split', 'Join',
  'ImportValue', 'FindInMap', 'Base64', 'GetAZs', 'Cidr', 'Length', 'ToJsonString',
];

function longName(name: string): string {
  return name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
}

/** A template in YAML with CloudFormation's short forms (`!Ref`, `!Sub`, `!If` ...). */
export function readYamlTemplate(file: string): any {
  const customTags = FUNCTIONS.flatMap((name) => [
    {
      tag: `!${name}`,
      resolve: (value: string) => ({ [longName(name)]: name === 'GetAtt' ? value.split('.') : value }),
    },
    { tag: `!${name}`, collection: 'seq' as const, resolve: (seq: any) => ({ [longName(name)]: seq.toJSON() }) },
    { tag: `!${name}`, collection: 'map' as const, resolve: (map: any) => ({ [longName(name)]: map.toJSON() }) },
  ]);
  return YAML.parse(fs.readFileSync(file, 'utf8'), { customTags });
}

const NO_VALUE = Symbol('AWS::NoValue');

/** Where the template is deployed, and what its resources' references stand for. */
export interface Environment {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly stackName: string;
  /** The parameters given; the others take their Default. */
  readonly parameters?: { [name: string]: string };
}

/** Evaluates the intrinsic functions in a template's values. */
export class Evaluator {
  private readonly conditions = new Map<string, boolean>();

  constructor(private readonly template: any, private readonly env: Environment) {}

  /**
   * `value` with every intrinsic evaluated. A `Ref` to a resource is `ref:<id>`, an `Fn::GetAtt`
   * `getatt:<id>.<attribute>`: their values come from CloudFormation, the comparison is of which
   * resource they name.
   */
  public evaluate(value: any): any {
    const result = this.eval(value);
    return result === NO_VALUE ? undefined : result;
  }

  public condition(name: string): boolean {
    if (!this.conditions.has(name)) {
      const body = this.template.Conditions?.[name];
      if (body === undefined) {
        throw new Error(`no condition ${name}`);
      }
      this.conditions.set(name, this.truth(this.eval(body)));
    }
    return this.conditions.get(name)!;
  }

  private truth(value: any): boolean {
    if (typeof value !== 'boolean') {
      throw new Error(`not a boolean: ${JSON.stringify(value)}`);
    }
    return value;
  }

  private ref(name: string): any {
    const pseudo: { [name: string]: any } = {
      'AWS::Partition': this.env.partition,
      'AWS::Region': this.env.region,
      'AWS::AccountId': this.env.account,
      'AWS::StackName': this.env.stackName,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::NoValue': NO_VALUE,
    };
    if (name in pseudo) {
      return pseudo[name];
    }
    const parameter = this.template.Parameters?.[name];
    if (parameter !== undefined) {
      const given = this.env.parameters?.[name] ?? parameter.Default;
      if (given === undefined) {
        throw new Error(`parameter ${name} has no value`);
      }
      return parameter.Type === 'CommaDelimitedList' ? String(given).split(',') : String(given);
    }
    if (this.template.Resources?.[name] !== undefined) {
      return `ref:${name}`;
    }
    throw new Error(`Ref to unknown ${name}`);
  }

  private sub(text: string, variables: { [name: string]: any }): string {
    return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in variables) {
        return String(variables[name]);
      }
      if (name.includes('.')) {
        const [id, attribute] = name.split('.');
        return `getatt:${id}.${attribute}`;
      }
      const value = this.ref(name);
      if (typeof value !== 'string') {
        throw new Error(`\${${name}} is not a string in Fn::Sub`);
      }
      return value;
    });
  }

  private eval(value: any): any {
    if (Array.isArray(value)) {
      return value.map((v) => this.eval(v)).filter((v) => v !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') {
      return value;
    }
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0] === 'Condition' || keys[0].startsWith('Fn::'))) {
      return this.intrinsic(keys[0], value[keys[0]]);
    }
    const out: { [key: string]: any } = {};
    for (const key of keys) {
      const v = this.eval(value[key]);
      if (v !== NO_VALUE) {
        out[key] = v;
      }
    }
    return out;
  }

  private intrinsic(name: string, args: any): any {
    switch (name) {
      case 'Ref':
        return this.ref(args);
      case 'Condition':
        return this.condition(args);
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(args) ? args : String(args).split('.');
        return `getatt:${id}.${attribute}`;
      }
      case 'Fn::Sub': {
        if (typeof args === 'string') {
          return this.sub(args, {});
        }
        const variables = this.eval(args[1] ?? {});
        return this.sub(args[0], variables);
      }
      case 'Fn::Join': {
        const parts = this.eval(args[1]);
        return parts.join(args[0]);
      }
      case 'Fn::Select':
        return this.eval(args[1])[Number(this.eval(args[0]))];
      case 'Fn::Split':
        return String(this.eval(args[1])).split(args[0]);
      case 'Fn::If':
        return this.eval(this.condition(args[0]) ? args[1] : args[2]);
      case 'Fn::Equals':
        return String(this.eval(args[0])) === String(this.eval(args[1]));
      case 'Fn::Not':
        return !this.truth(this.eval(args[0]));
      case 'Fn::And':
        return args.every((a: any) => this.truth(this.eval(a)));
      case 'Fn::Or':
        return args.some((a: any) => this.truth(this.eval(a)));
      default:
        throw new Error(`${name} is not evaluated here`);
    }
  }
}
