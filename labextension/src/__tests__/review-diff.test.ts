import type { LineageOut, ObjectOut } from '../contract.gen';
import { baselineVersion, lineDiff } from '../review/diff';

function obj(id: string, version: number): ObjectOut {
  return {
    id,
    logical_id: 'L',
    version,
    supersedes_id: null,
    filename: 't.csv',
    media_type: 'text/csv',
    size: 1,
    sha256: 'x',
    state: 'superseded',
    created_at: '2026-01-01T00:00:00Z',
    metadata: { title: '', description: '', statbarn: null, justification: '', suppression_notes: '', tags: [] },
    has_evidence: false
  };
}

function lineage(reviewers: string[][]): LineageOut {
  return {
    logical_id: 'L',
    versions: reviewers.map((names, i) => ({
      object: obj(`v${i + 1}`, i + 1),
      agent: null,
      reviews: names.map(n => ({
        revision: i + 1,
        reviewer: n,
        decision: 'changes_requested' as const,
        comment: null,
        visibility: 'public' as const
      }))
    })),
    diffs: []
  };
}

describe('which version to compare with', () => {
  it('is the one I last reviewed', () => {
    expect(baselineVersion(lineage([['carol'], ['dave'], []]), 'v3', 'carol')?.id).toBe('v1');
  });
  it('is the previous version when I reviewed none', () => {
    expect(baselineVersion(lineage([['dave'], [], []]), 'v3', 'carol')?.id).toBe('v2');
  });
  it('is nothing for a first version', () => {
    expect(baselineVersion(lineage([[]]), 'v1', 'carol')).toBeNull();
  });
});

describe('line diff', () => {
  it('marks removed and added lines around the common ones', () => {
    const { lines, truncated } = lineDiff('a\nb\nc', 'a\nB\nc\nd');
    expect(truncated).toBe(false);
    expect(lines.map(l => l.op + l.text)).toEqual([' a', '-b', '+B', ' c', '+d']);
  });
  it('cuts long inputs and says so', () => {
    const long = Array.from({ length: 30 }, (_, i) => String(i)).join('\n');
    const { lines, truncated } = lineDiff(long, long, 10);
    expect(truncated).toBe(true);
    expect(lines).toHaveLength(10);
  });
});
