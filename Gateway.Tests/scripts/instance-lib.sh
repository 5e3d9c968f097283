# Shell functions shared by the private reference-server scripts (postfix-instance.sh, dovecot-instance.sh).
# Sourced, not run.

# Absolute, normalised path of $1 (created when missing).
abs_dir() {
    mkdir -p -- "$1"
    (cd -- "$1" && pwd -P)
}

# The last 40 lines of a log file, on stderr, for a failed start.
print_log_tail() {
    local log=$1
    if [[ -s $log ]]; then
        echo "---- tail of $log ----" >&2
        tail -n 40 "$log" >&2 || true
        echo "----" >&2
    else
        echo "(nothing in $log)" >&2
    fi
}

# Whether something accepts connections on 127.0.0.1:$1.
port_in_use() {
    timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1" 2>/dev/null
}
