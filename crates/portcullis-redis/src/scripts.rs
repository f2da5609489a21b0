//! The Lua scripts that make each store operation atomic on its key.
//!
//! A session is a hash under `<prefix>s:{<id hash>}` with the fields `v` (version), `r` (the
//! record as JSON), `ls` (last seen, ms), `ad` (absolute deadline, ms) and `sub` (subject).
//! `ls` is kept apart from `r` so that `touch` can move it without re-encoding the record in
//! Lua (whose numbers are doubles). The key expires (`PEXPIREAT`) at the earlier of
//! `ls + idle timeout` and `ad`.
//!
//! A subject's index is a sorted set under `<prefix>u:{<sha256(subject)>}` of id hashes
//! scored by their absolute deadline: no session outlives its score, so entries below the
//! server's `TIME` are dead and pruned, and the set expires with its last member.

use redis::Script;

/// `KEYS[1]` session; `ARGV`: record JSON, last seen, absolute deadline, expires at, subject.
/// Returns 1 if created, 0 if the key exists.
pub(crate) const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', '1', 'r', ARGV[1], 'ls', ARGV[2], 'ad', ARGV[3], 'sub', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
";

/// `KEYS[1]` session; `ARGV`: expected version, new version, record JSON, last seen,
/// absolute deadline, idle timeout (ms), subject.
/// Returns 1 if written, 0 if missing, -1 on a version conflict, -2 if the subject differs.
/// `last_seen` never moves backwards and the absolute deadline is never extended.
pub(crate) const UPDATE: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'ls', 'ad', 'sub')
if not cur[1] then return 0 end
if cur[1] ~= ARGV[1] then return -1 end
if cur[4] ~= ARGV[7] then return -2 end
local ls = tonumber(ARGV[4])
local stored_ls = tonumber(cur[2])
if stored_ls and stored_ls > ls then ls = stored_ls end
local ad = tonumber(ARGV[5])
local stored_ad = tonumber(cur[3])
if stored_ad and stored_ad < ad then ad = stored_ad end
local exp = ls + tonumber(ARGV[6])
if exp > ad then exp = ad end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'r', ARGV[3], 'ls', string.format('%d', ls), 'ad', string.format('%d', ad))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', exp))
return 1
";

/// `KEYS[1]` session; `ARGV`: last seen, expires at. Returns 1 if the session exists.
/// Moves `ls` and the expiry (bounded by `ad`) only forwards in `ls`.
pub(crate) const TOUCH: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'ls', 'ad')
if not cur[1] then return 0 end
local ls = tonumber(ARGV[1])
if ls > tonumber(cur[1]) then
  local exp = tonumber(ARGV[2])
  local ad = tonumber(cur[2])
  if ad and exp > ad then exp = ad end
  redis.call('HSET', KEYS[1], 'ls', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', exp))
end
return 1
";

/// `KEYS[1]` session. Deletes it; returns its subject, or nil if there was none.
pub(crate) const DELETE: &str = r"
local sub = redis.call('HGET', KEYS[1], 'sub')
if redis.call('DEL', KEYS[1]) == 0 then return false end
return sub or ''
";

/// `KEYS[1]` session; `ARGV[1]` subject. Deletes the session only if it belongs to the
/// subject. Returns 1 if deleted.
pub(crate) const DELETE_IF_SUBJECT: &str = r"
if redis.call('HGET', KEYS[1], 'sub') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// `KEYS[1]` subject index; `ARGV`: id hash, absolute deadline (ms). Prunes dead entries
/// (score below the server's time), adds the entry and sets the index to expire with its
/// last member. Returns the number of entries.
pub(crate) const INDEX_ADD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then redis.call('PEXPIREAT', KEYS[1], string.format('%d', tonumber(top[2]))) end
return redis.call('ZCARD', KEYS[1])
";

/// `KEYS[1]` the revocation log (a stream); `ARGV`: message JSON, channel, retention (ms),
/// most entries. Appends the message to the log (dropping entries older than the retention,
/// and the oldest beyond the most entries; the log expires after the retention when idle),
/// then publishes `<entry id> <message>` on the channel, so subscribers know which entry
/// they saw. Returns the entry ID.
pub(crate) const PUBLISH_LOGGED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local oldest = now - tonumber(ARGV[3])
if oldest < 0 then oldest = 0 end
local id = redis.call('XADD', KEYS[1], 'MINID', '~', string.format('%d', oldest), '*', 'm', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[2], id .. ' ' .. ARGV[1])
return id
";

/// The scripts, hashed once (`EVALSHA`, with `EVAL` when the server lost them, e.g. after a
/// restart).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) create: Script,
    pub(crate) update: Script,
    pub(crate) touch: Script,
    pub(crate) delete: Script,
    pub(crate) delete_if_subject: Script,
    pub(crate) index_add: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            create: Script::new(CREATE),
            update: Script::new(UPDATE),
            touch: Script::new(TOUCH),
            delete: Script::new(DELETE),
            delete_if_subject: Script::new(DELETE_IF_SUBJECT),
            index_add: Script::new(INDEX_ADD),
        }
    }
}
