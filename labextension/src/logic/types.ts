/**
 * Shapes the panel works with. Backend shapes come from the generated contract (OpenAPI);
 * the server extension's own endpoints (/trevor/outputs, /trevor/inbox, /trevor/version) are
 * described here.
 */
import type { ObjectOut, RequestOut, RequestStatus } from '../contract.gen';

export type { ObjectOut, RequestOut, RequestStatus };

export interface Finding {
  rule: string;
  detail?: string;
  message?: string;
  cells?: unknown;
  value?: unknown;
  limit?: unknown;
  [key: string]: unknown;
}

/** A pre-check verdict as the kernel stores it ({status, findings}) or as a bare status. */
export type Verdict =
  'pass' | 'fail' | 'review' | { status?: string; findings?: Finding[]; [key: string]: unknown } | null | undefined;

/** GET /trevor/outputs items: tagged outputs in the workspace manifest. */
export interface TaggedOutput {
  id: string;
  version?: number;
  filename: string;
  media_type?: string | null;
  size?: number | null;
  sha256?: string | null;
  created_at?: string | null;
  verdict?: Verdict;
  has_evidence?: boolean;
  source?: string;
  title?: string | null;
  description?: string | null;
  statbarn?: string | null;
  justification?: string | null;
  suppression_notes?: string | null;
  provenance?: { notebook_path?: string; cell_id?: string; execution_count?: number };
}

export interface Statbarn {
  id: string;
  name: string;
  uri?: string;
  description?: string;
  guidance?: string;
  checks?: string[];
  always_review?: boolean;
}

export interface InboxFile {
  request_id: string;
  filename: string;
  path: string;
  size: number;
  modified: string;
}

export interface VersionInfo {
  version: string;
  api: string;
  backend_api?: string;
  backend_configured: boolean;
  project?: string | null;
  inbox_dir?: string;
}

export interface MetadataForm {
  title: string;
  description: string;
  statbarn: string;
  justification: string;
  suppression_notes: string;
}
