/* sqlsplit.c: the SQL script splitter (see sqlsplit.h). A small tokenizer
 * that follows psql's lexer (src/fe_utils/psqlscan.l) for everything that
 * can hide a semicolon, and the statement loop on top of it (paren and BEGIN
 * ATOMIC depth, goose blocks, COPY data, meta-commands), which records the
 * first words for the classifier (sqlclass.c) as it meets them.
 * standard_conforming_strings is assumed on. C library only. */
#include "sqlsplit.h"
#include "sqlclass.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Token kinds. TK_ERR_* mean the construct opened at start runs to EOF. */
enum {
  TK_EOF, TK_SPACE, TK_LINECOMMENT, TK_BLOCKCOMMENT, TK_WORD, TK_QIDENT,
  TK_STRING, TK_DOLLAR, TK_SEMI, TK_LPAREN, TK_RPAREN, TK_BACKSLASH,
  TK_OTHER, TK_ERR_STRING, TK_ERR_QIDENT, TK_ERR_DOLLAR, TK_ERR_COMMENT
};

typedef struct tok {
  int kind;
  size_t start, end;
} tok;

/* Byte classes: C_SPACE is psql's whitespace, C_START may start an
 * identifier, C_CONT may continue one, C_PLAIN never starts anything but a
 * run of TK_OTHER (digits, operators, punctuation). Bytes >= 0x80 are
 * identifier bytes, as in psql. */
enum { C_SPACE = 1, C_START = 2, C_CONT = 4, C_PLAIN = 8 };
static const unsigned char cclass[256] = {
  8, 8, 8, 8, 8, 8, 8, 8, 8, 1, 1, 8, 1, 1, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  1, 8, 0, 8, 4, 8, 8, 0, 0, 0, 8, 8, 8, 0, 8, 0,
  12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 8, 0, 8, 8, 8, 8,
  8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 8, 0, 8, 8, 6,
  8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 8, 8, 8, 8, 8,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
  6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
};

#define is_space(c) (cclass[(unsigned char)(c)] & C_SPACE)
#define is_ident_start(c) (cclass[(unsigned char)(c)] & C_START)
#define is_ident_cont(c) (cclass[(unsigned char)(c)] & C_CONT)
#define is_plain(c) (cclass[(unsigned char)(c)] & C_PLAIN)

static size_t skip_to_eol(const char *b, size_t n, size_t p) {
  while (p < n && b[p] != '\n' && b[p] != '\r') p++;
  return p;
}

/* After the closing quote of an E'' string at p: if SQL string continuation
 * follows (whitespace with a newline, then a quote), the position of that
 * quote, else (size_t)-1. The continued text stays an E'' string in psql. */
static size_t str_continues(const char *b, size_t n, size_t p) {
  for (;;) {
    if (p < n && (b[p] == ' ' || b[p] == '\t' || b[p] == '\f')) p++;
    else if (p + 1 < n && b[p] == '-' && b[p + 1] == '-') p = skip_to_eol(b, n, p);
    else break;
  }
  if (p >= n || (b[p] != '\n' && b[p] != '\r')) return (size_t)-1;
  p++;
  for (;;) {
    if (p < n && is_space((unsigned char)b[p])) {
      p++;
    } else if (p + 1 < n && b[p] == '-' && b[p + 1] == '-') {
      p = skip_to_eol(b, n, p);
      if (p >= n) return (size_t)-1;
      p++;
    } else {
      break;
    }
  }
  return p < n && b[p] == '\'' ? p : (size_t)-1;
}

/* Scans a quoted run whose opening quote q was just before p: '' or "" is
 * a doubled quote; with esc, a backslash escapes the next byte. Returns the
 * end (past the closing quote) or (size_t)-1 if the input ends first. */
static size_t scan_quoted(const char *b, size_t n, size_t p, char q, int esc) {
  for (;;) {
    while (p < n && b[p] != q && !(esc && b[p] == '\\')) p++;
    if (p >= n) return (size_t)-1;
    if (b[p] == '\\') {
      p += 2;
      continue;
    }
    if (p + 1 < n && b[p + 1] == q) {
      p += 2;
      continue;
    }
    p++;
    if (esc) {
      size_t c = str_continues(b, n, p);
      if (c != (size_t)-1) {
        p = c + 1;
        continue;
      }
    }
    return p;
  }
}

/* A dollar-quote delimiter ($$ or $tag$) at p: its length, else 0. */
static size_t dollar_tag(const char *b, size_t n, size_t p) {
  size_t q = p + 1;
  if (q < n && b[q] == '$') return 2;
  if (q >= n || !is_ident_start((unsigned char)b[q])) return 0;
  while (q < n && is_ident_cont((unsigned char)b[q]) && b[q] != '$') q++;
  return q < n && b[q] == '$' ? q - p + 1 : 0;
}

/* End of the dollar-quoted body whose delimiter b[p..p+tl) opens it, or
 * (size_t)-1. A plain search is exact: psql's lexer starts a token at
 * every '$' inside the body, and a tag cannot contain '$'. */
static size_t scan_dollar(const char *b, size_t n, size_t p, size_t tl) {
  const char *tag = b + p;
  size_t q = p + tl;
  while (q < n) {
    const char *d = memchr(b + q, '$', n - q);
    if (!d) break;
    q = (size_t)(d - b);
    if (n - q >= tl && memcmp(b + q, tag, tl) == 0) return q + tl;
    q++;
  }
  return (size_t)-1;
}

static size_t scan_comment(const char *b, size_t n, size_t p) {
  size_t depth = 1;
  p += 2;
  while (p + 1 < n) {
    if (b[p] == '*' && b[p + 1] == '/') {
      p += 2;
      if (--depth == 0) return p;
    } else if (b[p] == '/' && b[p + 1] == '*') {
      p += 2;
      depth++;
    } else {
      p++;
    }
  }
  return (size_t)-1;
}

/* Reads the token at p in b[0..n) into *t. */
static void lex(const char *b, size_t n, size_t p, tok *t) {
  unsigned char c;
  size_t e;
  t->start = p;
  if (p >= n) {
    t->kind = TK_EOF;
    t->end = n;
    return;
  }
  c = (unsigned char)b[p];
  t->kind = TK_OTHER;
  t->end = p + 1;
  if (is_space(c)) {
    while (t->end < n && is_space((unsigned char)b[t->end])) t->end++;
    t->kind = TK_SPACE;
  } else if (c == '-' && p + 1 < n && b[p + 1] == '-') {
    t->end = skip_to_eol(b, n, p);
    t->kind = TK_LINECOMMENT;
  } else if (c == '/' && p + 1 < n && b[p + 1] == '*') {
    e = scan_comment(b, n, p);
    t->kind = e == (size_t)-1 ? TK_ERR_COMMENT : TK_BLOCKCOMMENT;
    t->end = e == (size_t)-1 ? n : e;
  } else if (c == '\'' || c == '"') {
    e = scan_quoted(b, n, p + 1, (char)c, 0);
    if (c == '\'') t->kind = e == (size_t)-1 ? TK_ERR_STRING : TK_STRING;
    else t->kind = e == (size_t)-1 ? TK_ERR_QIDENT : TK_QIDENT;
    t->end = e == (size_t)-1 ? n : e;
  } else if (c == '$') {
    size_t tl = dollar_tag(b, n, p);
    if (tl > 0) {
      e = scan_dollar(b, n, p, tl);
      t->kind = e == (size_t)-1 ? TK_ERR_DOLLAR : TK_DOLLAR;
      t->end = e == (size_t)-1 ? n : e;
    } else {
      while (t->end < n && b[t->end] >= '0' && b[t->end] <= '9') t->end++;
    }
  } else if (is_ident_start(c)) {
    while (t->end < n && is_ident_cont((unsigned char)b[t->end])) t->end++;
    t->kind = TK_WORD;
    if (t->end == p + 1 && p + 1 < n) {
      /* E'...', U&'...' and U&"..." are one-letter prefixes. */
      int esc = (c == 'e' || c == 'E') && b[p + 1] == '\'';
      int uni = (c == 'u' || c == 'U') && b[p + 1] == '&' && p + 2 < n &&
                (b[p + 2] == '\'' || b[p + 2] == '"');
      if (esc || uni) {
        char q = esc ? '\'' : b[p + 2];
        e = scan_quoted(b, n, p + (esc ? 2 : 3), q, esc);
        if (q == '\'') t->kind = e == (size_t)-1 ? TK_ERR_STRING : TK_STRING;
        else t->kind = e == (size_t)-1 ? TK_ERR_QIDENT : TK_QIDENT;
        t->end = e == (size_t)-1 ? n : e;
      }
    }
  } else if (c == ';') {
    t->kind = TK_SEMI;
  } else if (c == '(') {
    t->kind = TK_LPAREN;
  } else if (c == ')') {
    t->kind = TK_RPAREN;
  } else if (c == '\\') {
    t->kind = TK_BACKSLASH;
  } else {
    while (t->end < n && is_plain((unsigned char)b[t->end])) t->end++;
  }
}

/* The same as lex(), read directly for the commonest tokens of a
 * statement: words, runs of TK_OTHER, ';' and parens. A one-letter word
 * before a quote or '&' may be an E'' or U& prefix: lex() decides. */
static inline void lex_fast(const char *b, size_t n, size_t p, tok *t) {
  size_t e = p + 1;
  if (p < n) {
    switch (cclass[(unsigned char)b[p]]) {
    case C_START | C_CONT:
      while (e < n && is_ident_cont(b[e])) e++;
      if (e == p + 1 && e < n && (b[e] == '\'' || b[e] == '&')) break;
      t->kind = TK_WORD;
      t->start = p;
      t->end = e;
      return;
    case C_PLAIN:
    case C_PLAIN | C_CONT:
      while (e < n && is_plain(b[e])) e++;
      t->kind = TK_OTHER;
      t->start = p;
      t->end = e;
      return;
    case 0:
      t->kind = b[p] == ';' ? TK_SEMI : b[p] == '(' ? TK_LPAREN
                : b[p] == ')' ? TK_RPAREN : TK_EOF;
      if (t->kind == TK_EOF) break;
      t->start = p;
      t->end = e;
      return;
    default:
      break;
    }
  }
  lex(b, n, p, t);
}

static int word_is(const char *w, size_t len, const char *kw) {
  size_t i;
  for (i = 0; i < len && kw[i]; i++) {
    unsigned char c = (unsigned char)w[i];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if (c != (unsigned char)kw[i]) return 0;
  }
  return i == len && kw[i] == '\0';
}

/* --- line numbers ------------------------------------------------------ */

/* Line and column of pos, advancing s's cursor (callers ask in order).
 * A span of a few bytes, as between tiny statements, is read 8 bytes at a
 * time in place; a longer one with memchr. */
#define ONES ((uint64_t)0x0101010101010101u)
static inline void where(ms_split *s, size_t pos, unsigned long *line,
                         unsigned long *col) {
  const char *b = s->buf, *nl;
  size_t p = s->lc_pos, bol = s->lc_bol;
  unsigned long l = s->lc_line;
  if (pos < p) {
    p = bol = 0;
    l = 1;
  }
  if (pos - p <= 16) {
    for (; pos - p >= 8; p += 8) {
      uint64_t v, z;
      memcpy(&v, b + p, 8);
      v ^= ONES * '\n';
      /* 0x80 in each byte of z whose byte of v is 0 (no carry crosses
       * bytes), then a 1 per such byte, summed into the top byte */
      z = ~(((v & ONES * 0x7f) + ONES * 0x7f) | v) & ONES * 0x80;
      if (z) {
        l += (unsigned long)(((z >> 7) * ONES) >> 56);
        for (bol = p + 8; b[bol - 1] != '\n'; bol--) {}
      }
    }
    for (; p < pos; p++) {
      if (b[p] == '\n') {
        l++;
        bol = p + 1;
      }
    }
  }
  while (p < pos && (nl = memchr(b + p, '\n', pos - p)) != NULL) {
    l++;
    p = bol = (size_t)(nl - b) + 1;
  }
  s->lc_pos = pos;
  s->lc_line = l;
  s->lc_bol = bol;
  *line = l;
  *col = (unsigned long)(pos - bol) + 1;
}

static int fail(ms_split *s, const char *msg, size_t at) {
  unsigned long col;
  s->err = msg;
  s->err_off = at;
  where(s, at, &s->err_line, &col);
  return -1;
}

static const char *unterminated(int kind) {
  switch (kind) {
  case TK_ERR_STRING: return "unterminated quoted string";
  case TK_ERR_QIDENT: return "unterminated quoted identifier";
  case TK_ERR_DOLLAR: return "unterminated dollar-quoted string";
  default: return "unterminated /* comment";
  }
}

static const char ERR_META[] = "psql meta-command is not SQL";
static const char ERR_GOOSE[] = "unterminated -- +goose StatementBegin block";
static const char ERR_COPY[] = "COPY data has no terminating \\. line";
static const char ERR_COPYLINE[] =
    "text after COPY ... FROM stdin; on the same line";

/* --- goose annotations --------------------------------------------------- */

/* Whether b[p..e) is "--" blanks "+goose" blanks word blanks, where word
 * is matched ignoring case. */
static int goose_mark(const char *b, size_t p, size_t e, const char *word) {
  size_t wl = strlen(word), q;
  if (e - p < 2 || b[p] != '-' || b[p + 1] != '-') return 0;
  p += 2;
  while (p < e && (b[p] == ' ' || b[p] == '\t')) p++;
  if (e - p < 6 || !word_is(b + p, 6, "+goose")) return 0;
  p += 6;
  for (q = p; q < e && (b[q] == ' ' || b[q] == '\t'); q++) {}
  if (q == p || e - q < wl || !word_is(b + q, wl, word)) return 0;
  for (q += wl; q < e; q++)
    if (!is_space((unsigned char)b[q])) return 0;
  return 1;
}

/* Whether the -- comment at p is the first thing on its line. */
static int line_starts_at(const char *b, size_t p) {
  while (p > 0 && (b[p - 1] == ' ' || b[p - 1] == '\t')) p--;
  return p == 0 || b[p - 1] == '\n' || b[p - 1] == '\r';
}

static void set_stmt(ms_split *s, ms_stmt *out, size_t start, size_t off,
                     size_t end, size_t pend) {
  out->piece_off = start;
  out->piece_len = pend - start;
  out->off = off;
  out->len = end - off;
  out->data_off = out->data_len = 0;
  where(s, off, &out->line, &out->col);
  s->pos = pend;
}

/* A goose block whose StatementBegin comment spans [cs, ce). Returns 1 with
 * *out filled, 2 if the block holds no statement (s->pos moved past it),
 * or -1. Like goose, looks only at lines, not at quotes, for the end. */
static int goose_block(ms_split *s, ms_stmt *out, size_t start, size_t cs,
                       size_t ce) {
  const char *b = s->buf;
  size_t n = s->len, body = ce, l, cend, pend, off = 0, last = 0, p;
  int seen = 0;
  tok t;
  if (body < n && b[body] == '\r') body++;
  if (body < n && b[body] == '\n') body++;
  for (l = body;;) {
    const char *nl = l < n ? memchr(b + l, '\n', n - l) : NULL;
    size_t le = nl ? (size_t)(nl - b) : n, q = l;
    while (q < le && (b[q] == ' ' || b[q] == '\t')) q++;
    if (goose_mark(b, q, le, "statementend")) {
      cend = l;
      pend = nl ? le + 1 : n;
      break;
    }
    if (!nl) return fail(s, ERR_GOOSE, cs);
    l = le + 1;
  }
  for (p = body; p < cend; p = t.end) {
    lex(b, cend, p, &t);
    if (t.kind == TK_SPACE || t.kind == TK_LINECOMMENT ||
        t.kind == TK_BLOCKCOMMENT)
      continue;
    if (!seen) off = t.start;
    seen = 1;
    last = t.end;
  }
  if (!seen) {
    s->pos = pend;
    return 2;
  }
  set_stmt(s, out, start, off, last, pend);
  out->terminated = b[last - 1] == ';';
  out->block = 1;
  out->cls = ms_split_classify(b + off, last - off);
  return 1;
}

/* --- COPY data and meta-commands ----------------------------------------- */

/* The statement ending at end is COPY ... FROM STDIN: its data are the
 * lines after the rest of this line, up to a line that is exactly \. */
#define PROGRESS_STEP ((size_t)1 << 20)
static int copy_data(ms_split *s, ms_stmt *out, size_t end) {
  const char *b = s->buf;
  size_t n = s->len, q = end, l, reported = end;
  unsigned long nl_col;
  while (q < n && (b[q] == ' ' || b[q] == '\t' || b[q] == '\r' || b[q] == '\f'))
    q++;
  if (q + 1 < n && b[q] == '-' && b[q + 1] == '-')
    while (q < n && b[q] != '\n') q++;
  if (q < n && b[q] != '\n') return fail(s, ERR_COPYLINE, q);
  if (q >= n) return fail(s, ERR_COPY, out->off);
  out->data_off = l = q + 1;
  where(s, l, &out->data_line, &nl_col);
  while (l < n) {
    const char *nl;
    if (b[l] == '\\' && l + 1 < n && b[l + 1] == '.') {
      size_t e = l + 2;
      if (e < n && b[e] == '\r') e++;
      if (e == n || b[e] == '\n') {
        out->data_len = l - out->data_off;
        s->pos = e < n ? e + 1 : n;
        out->piece_len = s->pos - out->piece_off;
        return 1;
      }
    }
    nl = memchr(b + l, '\n', n - l);
    if (!nl) break;
    l = (size_t)(nl - b) + 1;
    /* count the data's lines here, so they are never scanned again */
    s->lc_line++;
    s->lc_pos = s->lc_bol = l;
    if (s->progress && l - reported >= PROGRESS_STEP) {
      s->progress(s->progress_ud, l);
      reported = l;
    }
  }
  return fail(s, ERR_COPY, out->data_off);
}

/* A backslash at bs outside quotes. Only \restrict and \unrestrict, at a
 * statement boundary, are accepted (as a skippable piece). */
static int meta(ms_split *s, ms_stmt *out, size_t start, size_t bs, int seen) {
  const char *b = s->buf;
  size_t n = s->len, q = bs + 1, end;
  const char *nl;
  while (q < n && !is_space((unsigned char)b[q]) && b[q] != '\\') q++;
  if (seen || !(word_is(b + bs + 1, q - bs - 1, "restrict") ||
                word_is(b + bs + 1, q - bs - 1, "unrestrict")))
    return fail(s, ERR_META, bs);
  nl = memchr(b + bs, '\n', n - bs);
  end = nl ? (size_t)(nl - b) : n;
  set_stmt(s, out, start, bs, end > bs && b[end - 1] == '\r' ? end - 1 : end,
           nl ? end + 1 : n);
  out->terminated = 0;
  out->cls = MS_CLASS_META_SKIP;
  return 1;
}

/* --- the statement loop ---------------------------------------------------- */

void ms_split_init(ms_split *s, const char *buf, size_t len) {
  memset(s, 0, sizeof *s);
  s->buf = buf;
  s->len = len;
  s->lc_line = 1;
}

/* What the statement loop learns from the words of a statement: the record
 * its class is read from, and psql's heuristic for SQL-standard bodies:
 * inside CREATE [OR REPLACE] FUNCTION/PROCEDURE, BEGIN (and CASE within it)
 * opens a block that END closes, and ';' ends the statement only outside
 * blocks and parens. Whether a statement is such a routine is known after
 * at most its first four unquoted words (at any paren depth). */
enum { ROUTINE_UNKNOWN, ROUTINE_YES, ROUTINE_NO };
typedef struct words_seen {
  ms_words cls;
  unsigned count;     /* unquoted words seen while routine is unknown */
  int routine;
  size_t depth;       /* BEGIN ... END blocks open */
} words_seen;

/* Whether no further word can change the statement's class or end. */
static int quiet(const words_seen *k) {
  return k->cls.n >= k->cls.want && k->routine == ROUTINE_NO;
}

/* The routine heuristic's step for word number count, of keyword code c. */
static int routine_step(unsigned count, int c) {
  switch (count) {
  case 0: return c == KW_CREATE ? ROUTINE_UNKNOWN : ROUTINE_NO;
  case 1: return c == KW_FUNCTION || c == KW_PROCEDURE ? ROUTINE_YES
                 : c == KW_OR ? ROUTINE_UNKNOWN : ROUTINE_NO;
  case 2: return c == KW_REPLACE ? ROUTINE_UNKNOWN : ROUTINE_NO;
  default: return c == KW_FUNCTION || c == KW_PROCEDURE ? ROUTINE_YES
                  : ROUTINE_NO;
  }
}

/* Takes note of the significant token t, paren the depth before it. */
static void note_token(words_seen *k, const char *b, const tok *t,
                       size_t paren) {
  int c = W_OTHER, rec = paren == 0 && k->cls.n < k->cls.want;
  if (t->kind == TK_WORD && (rec || k->routine != ROUTINE_NO))
    c = ms_class_keyword(b + t->start, t->end - t->start);
  else if (t->kind == TK_LPAREN)
    c = W_LPAREN;
  else if (t->kind == TK_SEMI)
    c = W_SEMI;
  if (rec) ms_class_add(&k->cls, c);
  if (t->kind != TK_WORD || k->routine == ROUTINE_NO) return;
  if (k->routine == ROUTINE_UNKNOWN) k->routine = routine_step(k->count++, c);
  if (k->routine != ROUTINE_YES || paren != 0) return;
  if (c == KW_BEGIN) k->depth++;
  else if (c == KW_CASE) { if (k->depth > 0) k->depth++; }
  else if (c == KW_END) { if (k->depth > 0) k->depth--; }
}

/* Ends the statement at end (past its last token), or with the ';' at
 * end when semi: fills *out and returns as ms_split_next does. */
static int end_stmt(ms_split *s, ms_stmt *out, size_t start, size_t off,
                    size_t end, int semi, ms_class cls) {
  set_stmt(s, out, start, off, end + semi, end + semi);
  out->terminated = semi;
  out->cls = cls;
  return semi && cls == MS_CLASS_COPY ? copy_data(s, out, end + 1) : 1;
}

/* The rest of a statement from p, once no word can change its class or its
 * end (outside CREATE FUNCTION bodies): only ';' at paren depth 0 ends it.
 * Reads blanks, words, runs of TK_OTHER, ';' and parens in place, with the
 * same boundaries as lex(), and hands lex() whatever else. last is the
 * end of the last significant token so far. */
static int quiet_rest(ms_split *s, ms_stmt *out, size_t start, size_t off,
                      size_t p, size_t last, size_t paren, ms_class cls) {
  const char *b = s->buf;
  size_t n = s->len, q;
  tok t;
  for (;;) {
    unsigned char c;
    while (p < n && is_space(b[p])) p++;
    if (p >= n) break;
    c = (unsigned char)b[p];
    if (is_ident_start(c)) {
      for (q = p + 1; q < n && is_ident_cont(b[q]); q++) {}
      if (q > p + 1 || q == n || (b[q] != '\'' && b[q] != '&')) {
        last = p = q;
        continue;
      }
      /* maybe an E'' or U& prefix: lex() decides */
    } else if (is_plain(c)) {
      for (q = p + 1; q < n && is_plain(b[q]); q++) {}
      last = p = q;
      continue;
    } else if (c == '(' || c == ')' || c == ';') {
      if (c == ';' && paren == 0)
        return end_stmt(s, out, start, off, p, 1, cls);
      if (c == '(') paren++;
      else if (c == ')' && paren > 0) paren--;
      last = ++p;
      continue;
    }
    lex(b, n, p, &t);
    switch (t.kind) {
    case TK_ERR_STRING:
    case TK_ERR_QIDENT:
    case TK_ERR_DOLLAR:
    case TK_ERR_COMMENT:
      return fail(s, unterminated(t.kind), t.start);
    case TK_BACKSLASH:
      return meta(s, out, start, t.start, 1);
    case TK_SPACE:
    case TK_LINECOMMENT:
    case TK_BLOCKCOMMENT:
      p = t.end;
      break;
    default:
      last = p = t.end;
    }
  }
  return end_stmt(s, out, start, off, last, 0, cls);
}

/* The statement whose first significant token is *t: reads to its end,
 * lexing into *t, and fills *out (its piece began at start). Returns as
 * ms_split_next does. */
static int statement(ms_split *s, ms_stmt *out, size_t start, tok *t) {
  const char *b = s->buf;
  size_t n = s->len, off = t->start, last = off, paren = 0, p;
  words_seen k;
  memset(&k, 0, sizeof k);
  ms_class_start(&k.cls);
  for (;;) {
    switch (t->kind) {
    case TK_EOF:
      return end_stmt(s, out, start, off, last, 0, ms_class_of(&k.cls));
    case TK_SPACE:
    case TK_LINECOMMENT:
    case TK_BLOCKCOMMENT:
      break;
    case TK_ERR_STRING:
    case TK_ERR_QIDENT:
    case TK_ERR_DOLLAR:
    case TK_ERR_COMMENT:
      return fail(s, unterminated(t->kind), t->start);
    case TK_BACKSLASH:
      return meta(s, out, start, t->start, 1);
    default:
      last = t->end;
      note_token(&k, b, t, paren);
      if (t->kind == TK_LPAREN) {
        paren++;
      } else if (t->kind == TK_RPAREN) {
        if (paren > 0) paren--;
      } else if (t->kind == TK_SEMI && paren == 0 && k.depth == 0) {
        return end_stmt(s, out, start, off, t->start, 1, ms_class_of(&k.cls));
      }
      if (quiet(&k))
        return quiet_rest(s, out, start, off, t->end, last, paren,
                          ms_class_of(&k.cls));
    }
    for (p = t->end; p < n && is_space(b[p]); p++) {}
    lex_fast(b, n, p, t);
  }
}

int ms_split_next(ms_split *s, ms_stmt *out) {
  const char *b = s->buf;
  size_t n = s->len, start = s->pos, p = start;
  int r;
  tok t;
  if (s->err) return -1;
  if (start >= n) return 0;
  memset(out, 0, sizeof *out);
  /* the blanks and comments that lead the piece, or a goose block */
  for (;; p = t.end) {
    while (p < n && is_space(b[p])) p++;
    lex_fast(b, n, p, &t);
    switch (t.kind) {
    case TK_EOF:
      set_stmt(s, out, start, start, start, n);
      out->cls = MS_CLASS_EMPTY;
      return 1;
    case TK_SPACE:
    case TK_BLOCKCOMMENT:
      continue;
    case TK_LINECOMMENT:
      if (line_starts_at(b, t.start) &&
          goose_mark(b, t.start, t.end, "statementbegin")) {
        r = goose_block(s, out, start, t.start, t.end);
        if (r != 2) return r;
        t.end = s->pos;
      }
      continue;
    case TK_ERR_STRING:
    case TK_ERR_QIDENT:
    case TK_ERR_DOLLAR:
    case TK_ERR_COMMENT:
      return fail(s, unterminated(t.kind), t.start);
    case TK_BACKSLASH:
      return meta(s, out, start, t.start, 0);
    default:
      return statement(s, out, start, &t);
    }
  }
}

int ms_split_errmsg(const ms_split *s, char *buf, size_t n) {
  if (!s->err) return snprintf(buf, n, "%s", "");
  if (s->err == ERR_META) {
    size_t q = s->err_off + 1;
    while (q < s->len && q - s->err_off <= 32 &&
           !is_space((unsigned char)s->buf[q]) && s->buf[q] != '\\')
      q++;
    return snprintf(buf, n, "psql meta-command \\%.*s is not SQL",
                    (int)(q - s->err_off - 1), s->buf + s->err_off + 1);
  }
  if (s->err == ERR_COPYLINE) return snprintf(buf, n, "%s", s->err);
  if (s->err == ERR_COPY)
    return snprintf(buf, n, "COPY data starting at line %lu has no "
                    "terminating \\. line", s->err_line);
  return snprintf(buf, n, "%s starting at line %lu", s->err, s->err_line);
}

/* The same words as the statement loop records, read from the text alone. */
ms_class ms_split_classify(const char *stmt, size_t len) {
  ms_words ws;
  size_t p = 0, depth = 0;
  tok t;
  ms_class_start(&ws);
  while (ws.n < ws.want) {
    lex(stmt, len, p, &t);
    p = t.end;
    if (t.kind == TK_EOF || t.kind == TK_ERR_STRING ||
        t.kind == TK_ERR_QIDENT || t.kind == TK_ERR_DOLLAR ||
        t.kind == TK_ERR_COMMENT)
      break;
    if (t.kind == TK_SPACE || t.kind == TK_LINECOMMENT ||
        t.kind == TK_BLOCKCOMMENT)
      continue;
    if (depth == 0)
      ms_class_add(&ws, t.kind == TK_WORD
                        ? ms_class_keyword(stmt + t.start, t.end - t.start)
                        : t.kind == TK_LPAREN ? W_LPAREN
                        : t.kind == TK_SEMI ? W_SEMI : W_OTHER);
    if (t.kind == TK_LPAREN) depth++;
    else if (t.kind == TK_RPAREN && depth > 0) depth--;
  }
  return ms_class_of(&ws);
}

const char *ms_split_classname(ms_class cls) {
  static const char *const names[] = {
    "sql", "txn", "notx", "addvalue", "copy", "meta_skip", "empty"
  };
  return (unsigned)cls < sizeof names / sizeof names[0] ? names[cls] : "sql";
}
