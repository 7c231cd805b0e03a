// Generated from lua/sova/sandboxed/vocabulary.lua by `build/sova script scripts/generate.lua`:
// do not edit (spec/unit/generated_spec.lua fails when this file is not what the generator writes).
// The API serves the same document at GET /api/meta.
export const VOCABULARY = {
  "call_statuses": [
    {"code": "not_started", "label": "Not Started", "terminal": false},
    {"code": "queued", "label": "Queued", "terminal": false},
    {"code": "in_progress", "label": "In Progress", "terminal": false},
    {"code": "completed", "label": "Completed", "terminal": true},
    {"code": "incomplete", "label": "Incomplete", "terminal": true},
    {"code": "no_answer", "label": "No Answer", "terminal": true},
    {"code": "busy", "label": "Busy", "terminal": true},
    {"code": "canceled", "label": "Canceled", "terminal": true},
    {"code": "voicemail", "label": "Voicemail", "terminal": true},
    {"code": "failed", "label": "Failed", "terminal": true}
  ],
  "session_events": [
    {"type": "node", "label": "Step"},
    {"type": "set", "label": "Recorded"},
    {"type": "note", "label": "Note"},
    {"type": "transfer", "label": "Transfer"},
    {"type": "dtmf", "label": "Keypad tones"},
    {"type": "dtmf_received", "label": "Keys pressed"},
    {"type": "interrupted", "label": "Interrupted"},
    {"type": "dialed", "label": "Dialed"},
    {"type": "ringing", "label": "Ringing"},
    {"type": "answered", "label": "Answered"},
    {"type": "answered_by", "label": "Answered by"},
    {"type": "telephony_error", "label": "Telephony error"},
    {"type": "listening_started", "label": "Listening started"},
    {"type": "listening_ended", "label": "Listening ended"},
    {"type": "failure", "label": "Failure"},
    {"type": "error", "label": "Error"}
  ],
  "system_fields": [
    "_id",
    "organization_id",
    "workflow",
    "call_status",
    "created_at",
    "updated_at",
    "last_call_at",
    "last_session_id",
    "list_seq",
    "list_page",
    "counted",
    "counts_dirty"
  ]
} as const;
