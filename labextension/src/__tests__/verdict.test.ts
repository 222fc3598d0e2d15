import { describeFinding, verdictBadge, verdictStatus } from '../logic/verdict';

describe('verdict badges', () => {
  it('reads bare statuses and kernel reports', () => {
    expect(verdictStatus('pass')).toBe('pass');
    expect(verdictStatus({ status: 'fail', findings: [] })).toBe('fail');
    expect(verdictStatus(null)).toBe('unknown');
    expect(verdictStatus({ status: 'weird' })).toBe('unknown');
  });

  it('puts findings in the tooltip', () => {
    const b = verdictBadge({
      status: 'fail',
      findings: [{ rule: 'threshold', cells: [['F', 'A']], value: 3, limit: 10 }]
    });
    expect(b.label).toBe('Fail');
    expect(b.tone).toBe('fail');
    expect(b.title).toContain('threshold: cells [["F","A"]]: 3 (limit 10)');
  });

  it('prefers a finding detail when there is one', () => {
    expect(describeFinding({ rule: 'missing_evidence', detail: 'no evidence' })).toBe('missing_evidence: no evidence');
  });

  it('says when nothing was checked', () => {
    expect(verdictBadge(undefined)).toEqual({
      label: 'Not checked',
      tone: 'unknown',
      title: 'No disclosure pre-check result.'
    });
  });
});
