import { agentResult, agentSummary, lineageObjects, publicComments } from '../logic/feedback';

const report = {
  request: 'r1',
  revision: 1,
  available: true,
  created_at: null,
  recommendation: 'fail',
  report: {
    summary: 'recommendation: fail (0 pass, 0 review, 1 fail)',
    objects: {
      o1: { status: 'fail', findings: [{ rule: 'threshold', cells: [['A', 'x']], value: 3, limit: 10 }] }
    }
  }
} as any;

describe('agent report', () => {
  it('summarises and finds per-object results', () => {
    expect(agentSummary(report)).toBe('recommendation: fail (0 pass, 0 review, 1 fail)');
    expect(agentResult(report, 'o1')).toEqual({
      tone: 'fail',
      findings: ['threshold: cells [["A","x"]]: 3 (limit 10)']
    });
    expect(agentResult(report, 'o2')).toBeNull();
  });

  it('says nothing when no report is available yet', () => {
    expect(agentSummary({ ...report, available: false })).toBeNull();
    expect(agentSummary(null)).toBeNull();
  });
});

describe('checker feedback', () => {
  it('shows public comments only', () => {
    const reviews = [
      {
        objects: [
          { object_id: 'o1', decision: 'changes_requested', comment: 'Round to 5', visibility: 'public' },
          { object_id: 'o1', decision: 'reject', comment: 'internal note', visibility: 'private' },
          { object_id: 'o2', decision: 'approve', comment: 'fine', visibility: 'public' }
        ]
      }
    ] as any;
    expect(publicComments(reviews, 'o1')).toEqual(['changes requested: Round to 5']);
  });
});

describe('lineage', () => {
  it('lists versions oldest first', () => {
    const lineage = {
      logical_id: 'l',
      versions: [{ object: { id: 'b', version: 2 } }, { object: { id: 'a', version: 1 } }],
      diffs: []
    } as any;
    expect(lineageObjects(lineage).map(o => o.id)).toEqual(['a', 'b']);
  });
});
