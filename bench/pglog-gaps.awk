# bench/pglog-gaps.awk: reads a PostgreSQL log written with log_statement=all
# and log_line_prefix '%m [%p] ...' (as bench/profile.sh sets it) for one
# session, and prints, per kind of statement, how long it was from the start
# of each statement to the start of the next: the server's execution of that
# statement plus, where the client waited, the round trip and the client's
# own work. The kind is the first word(s) of the statement.
/LOG:  (statement|execute [^:]*): / {
  split($2, t, ":")
  ms = t[1] * 3600000 + t[2] * 60000 + t[3] * 1000
  s = $0
  sub(/.*LOG:  (statement|execute [^:]*): /, "", s)
  n = split(s, w, /[ (;\\]+/)
  k = toupper(w[1])
  if (k == "CREATE" || k == "DROP" || k == "ALTER") k = k " " toupper(w[2])
  if (k == "WITH" || k == "INSERT") k = "INSERT (tracking)"
  if (k == "DELETE") k = "DELETE (tracking)"
  if (k == "BEGIN" && s ~ /COMMIT/) k = "BEGIN ... COMMIT (one message)"
  if (last != "") { total[last] += ms - prev; count[last]++ }
  prev = ms; last = k
}
END {
  for (k in total) printf "%-32s %7d %10.3f %10.0f\n", k, count[k], total[k] / count[k], total[k]
}
