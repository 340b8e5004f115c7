export { AnalyzerRef } from './analyzer-ref';
export { AppliedArchiveRule, AppliedArchiveRuleProps } from './applied-archive-rule';
export { ApplyArchiveRules, ApplyArchiveRulesProps } from './apply-archive-rules';
export { AutoApply, AutoApplyProps } from './auto-apply';
export { ProviderCode } from './code';
export { Criterion, CriterionOptions } from './filter';
export { ArchiveRuleProvider, ArchiveRuleProviderProps } from './provider';
