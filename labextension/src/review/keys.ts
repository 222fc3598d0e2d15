/**
 * Keyboard use of the review view: j/k move between objects, a/c/r set the selected object's
 * decision, Ctrl/⌘+Enter submits. Letters act only outside text fields (a checker typing a
 * comment must be able to type "a"); the submit chord works everywhere.
 */
import type { Decision } from '../contract.gen';

export type KeyCommand = { kind: 'move'; delta: 1 | -1 } | { kind: 'decide'; decision: Decision } | { kind: 'submit' };

export interface KeyInput {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  /** The event came from an input, textarea, select or editable element. */
  inTextField: boolean;
}

export function keyCommand(e: KeyInput): KeyCommand | null {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    return { kind: 'submit' };
  }
  if (e.inTextField || e.ctrlKey || e.metaKey || e.altKey) {
    return null;
  }
  switch (e.key) {
    case 'j':
      return { kind: 'move', delta: 1 };
    case 'k':
      return { kind: 'move', delta: -1 };
    case 'a':
      return { kind: 'decide', decision: 'approve' };
    case 'c':
      return { kind: 'decide', decision: 'changes_requested' };
    case 'r':
      return { kind: 'decide', decision: 'reject' };
    default:
      return null;
  }
}

/** The next selection, clamped to the list (no wrap-around: the ends are where they are). */
export function move(index: number, delta: number, length: number): number {
  if (length === 0) {
    return 0;
  }
  return Math.min(length - 1, Math.max(0, index + delta));
}
