// The approvals table: one row per request for a destructive command, kept across restarts, with its
// plan, the facts the plan rests on, who approved it, and how it ended.
import type { Backend, Conversation } from '../chat/adapter.ts';
import { type Sqlite, updateRow } from '../platform/database.ts';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'stale';

export interface Approver {
  backend: Backend;
  id: string;
  /** The admin (person) behind the identity; absent in requests made before admins were persons. */
  person?: string;
  at: string;
}

export interface ApprovalRow {
  id: number;
  command: string;
  args: string; // JSON string[]: the argument tokens, re-validated when it runs
  backend: Backend;
  requester: string;
  /** The admin (person) who asked; null in requests made before admins were persons. */
  requester_person: string | null;
  conversation: string; // JSON Conversation
  plan: string;
  facts: string; // JSON: what the plan rests on
  required: number;
  approvers: string; // JSON Approver[]
  status: ApprovalStatus;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
  break_glass: number;
  job_id: number | null;
}

export class ApprovalsTable {
  constructor(
    private readonly db: Sqlite,
    private readonly now: () => Date,
  ) {}

  create(r: {
    command: string;
    args: string[];
    backend: Backend;
    requester: string;
    requesterPerson: string | null;
    conversation: Conversation;
    plan: string;
    facts: unknown;
    required: number;
    ttlMs: number;
    breakGlass?: string;
  }): ApprovalRow {
    const created = this.now();
    const info = this.db
      .prepare(
        `INSERT INTO approvals (command, args, backend, requester, requester_person, conversation, plan, facts,
                                required, approvers, status, created_at, expires_at, break_glass, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?)`,
      )
      .run(
        r.command,
        JSON.stringify(r.args),
        r.backend,
        r.requester,
        r.requesterPerson,
        JSON.stringify(r.conversation),
        r.plan,
        JSON.stringify(r.facts),
        r.required,
        r.breakGlass ? 'approved' : 'pending',
        created.toISOString(),
        new Date(created.getTime() + r.ttlMs).toISOString(),
        r.breakGlass ? 1 : 0,
        r.breakGlass ?? null,
      );
    return this.get(Number(info.lastInsertRowid))!;
  }

  /** A request; a pending one whose time is up is marked expired on the way. */
  get(id: number): ApprovalRow | undefined {
    const row = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as ApprovalRow | undefined;
    if (row?.status === 'pending' && row.expires_at <= this.now().toISOString()) {
      this.set(id, { status: 'expired', decided_at: row.expires_at });
      return { ...row, status: 'expired', decided_at: row.expires_at };
    }
    return row;
  }

  /** Open requests, expiring the ones whose time is up. */
  open(): ApprovalRow[] {
    const rows = this.db.prepare(`SELECT id FROM approvals WHERE status = 'pending' ORDER BY id`).all() as {
      id: number;
    }[];
    return rows.map((r) => this.get(r.id)!).filter((r) => r.status === 'pending');
  }

  set(id: number, fields: Partial<Omit<ApprovalRow, 'id'>>): void {
    updateRow(this.db, 'approvals', id, fields);
  }

  approvers(row: ApprovalRow): Approver[] {
    return JSON.parse(row.approvers) as Approver[];
  }

  /** Records one approval; returns the approvers so far. */
  addApprover(row: ApprovalRow, who: { backend: Backend; id: string; person: string }): Approver[] {
    const list = [...this.approvers(row), { ...who, at: this.now().toISOString() }];
    this.set(row.id, { approvers: JSON.stringify(list) });
    return list;
  }

  /**
   * Moves a pending request to `status`, only if it is still pending: of two admins deciding at once,
   * exactly one gets true.
   */
  claim(id: number, status: ApprovalStatus, by: string | null, reason: string | null = null): boolean {
    return (
      this.db
        .prepare(
          `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, reason = COALESCE(?, reason) WHERE id = ? AND status = 'pending'`,
        )
        .run(status, this.now().toISOString(), by, reason, id).changes === 1
    );
  }
}
