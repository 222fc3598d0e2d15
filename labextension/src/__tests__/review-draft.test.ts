import { draftKey, emptyDraft, prepareReview, restoreDraft, suggestedOverall, updateObject } from '../review/draft';
import { keyCommand, move } from '../review/keys';

describe('drafts', () => {
  it('round-trips through JSON (the state database) and drops objects no longer current', () => {
    let d = emptyDraft('r1', 2);
    d = updateObject(d, 'o1', { decision: 'changes_requested', comment: 'round to 5' });
    d = updateObject(d, 'gone', { decision: 'approve' });
    d = { ...d, summary: 'nearly', overall: 'changes_requested' };
    const stored = JSON.parse(JSON.stringify(d));
    const back = restoreDraft(stored, 'r1', 2, ['o1', 'o2']);
    expect(back).toEqual({
      rid: 'r1',
      revision: 2,
      objects: { o1: { decision: 'changes_requested', comment: 'round to 5', visibility: 'public' } },
      overall: 'changes_requested',
      summary: 'nearly'
    });
  });

  it('ignores a draft of another request or revision, and junk', () => {
    const d = updateObject(emptyDraft('r1', 1), 'o1', { decision: 'approve' });
    expect(restoreDraft(d, 'r1', 2, ['o1'])).toBeNull();
    expect(restoreDraft(d, 'r2', 1, ['o1'])).toBeNull();
    expect(restoreDraft('nope', 'r1', 1, ['o1'])).toBeNull();
    const bad = { rid: 'r1', revision: 1, objects: { o1: { decision: 'maybe', visibility: 'secret' } } };
    expect(restoreDraft(bad, 'r1', 1, ['o1'])?.objects.o1).toEqual({
      decision: null,
      comment: '',
      visibility: 'public'
    });
  });

  it('keys drafts by request and revision', () => {
    expect(draftKey('r1', 3)).toBe('jupyter-trevor:review-draft:r1:3');
  });
});

describe('submitting', () => {
  it('suggests the overall decision the backend would reach', () => {
    let d = emptyDraft('r', 1);
    expect(suggestedOverall(d, ['a', 'b'])).toBeNull();
    d = updateObject(d, 'a', { decision: 'approve' });
    d = updateObject(d, 'b', { decision: 'approve' });
    expect(suggestedOverall(d, ['a', 'b'])).toBe('approve');
    d = updateObject(d, 'b', { decision: 'reject', comment: 'no' });
    expect(suggestedOverall(d, ['a', 'b'])).toBe('changes_requested');
    d = updateObject(d, 'a', { decision: 'reject', comment: 'no' });
    expect(suggestedOverall(d, ['a', 'b'])).toBe('reject');
  });

  it('says what is missing before posting', () => {
    let d = emptyDraft('r', 1);
    d = updateObject(d, 'a', { decision: 'changes_requested' });
    const p = prepareReview(d, ['a', 'b']);
    expect(p.body).toBeNull();
    expect(p.problems).toEqual([
      { objectId: 'a', detail: 'requesting changes or rejecting needs a comment' },
      { objectId: 'b', detail: 'needs a decision' },
      { objectId: null, detail: 'choose an overall decision' }
    ]);
  });

  it('builds the body with public and private comments', () => {
    let d = emptyDraft('r', 1);
    d = updateObject(d, 'a', { decision: 'changes_requested', comment: ' please round ' });
    d = updateObject(d, 'b', { decision: 'approve', comment: 'fine, but watch', visibility: 'private' });
    d = { ...d, summary: 'one table to fix' };
    expect(prepareReview(d, ['a', 'b'])).toEqual({
      problems: [],
      body: {
        decision: 'changes_requested',
        summary: 'one table to fix',
        objects: [
          { object_id: 'a', decision: 'changes_requested', comment: 'please round', visibility: 'public' },
          { object_id: 'b', decision: 'approve', comment: 'fine, but watch', visibility: 'private' }
        ]
      }
    });
  });
});

describe('keyboard', () => {
  it('maps j/k/a/c/r outside text fields and the submit chord everywhere', () => {
    expect(keyCommand({ key: 'j', inTextField: false })).toEqual({ kind: 'move', delta: 1 });
    expect(keyCommand({ key: 'k', inTextField: false })).toEqual({ kind: 'move', delta: -1 });
    expect(keyCommand({ key: 'a', inTextField: false })).toEqual({ kind: 'decide', decision: 'approve' });
    expect(keyCommand({ key: 'c', inTextField: false })).toEqual({
      kind: 'decide',
      decision: 'changes_requested'
    });
    expect(keyCommand({ key: 'r', inTextField: false })).toEqual({ kind: 'decide', decision: 'reject' });
    expect(keyCommand({ key: 'a', inTextField: true })).toBeNull();
    expect(keyCommand({ key: 'r', ctrlKey: true, inTextField: false })).toBeNull();
    expect(keyCommand({ key: 'Enter', ctrlKey: true, inTextField: true })).toEqual({ kind: 'submit' });
    expect(keyCommand({ key: 'Enter', metaKey: true, inTextField: false })).toEqual({ kind: 'submit' });
    expect(keyCommand({ key: 'Enter', inTextField: false })).toBeNull();
  });

  it('moves within the list without wrapping', () => {
    expect(move(0, -1, 3)).toBe(0);
    expect(move(1, 1, 3)).toBe(2);
    expect(move(2, 1, 3)).toBe(2);
    expect(move(0, 1, 0)).toBe(0);
  });
});
