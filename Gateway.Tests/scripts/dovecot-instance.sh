#!/usr/bin/env bash
# dovecot-instance.sh - a private Dovecot IMAP server for comparison tests and benchmarks.
#
#   dovecot-instance.sh start DIR PORT USER PASSWORD
#   dovecot-instance.sh stop DIR
#
# start writes DIR/dovecot.conf and runs 'dovecot -c DIR/dovecot.conf': IMAP only, on
# 127.0.0.1:PORT only, no TLS, cleartext LOGIN/AUTHENTICATE PLAIN allowed, one user USER
# with PASSWORD (passwd-file, {PLAIN} scheme), Maildir under DIR/mail/USER, INBOX plus
# Sent, Drafts, Trash, Junk and Archive created with their RFC 6154 special-use flags.
# Everything the instance writes stays under DIR: DIR/run (base_dir, master.pid, sockets),
# DIR/state (state_dir), DIR/dovecot.log. CONDSTORE and QRESYNC are in Dovecot's default
# capability list; the script checks nothing about them (the tests do).
#
# start prints nothing on success. On failure it exits non-zero and prints the reason and
# the tail of DIR/dovecot.log. It waits (DOVECOT_INSTANCE_START_TIMEOUT, default 30 s) for
# the instance's own greeting on PORT, and refuses a port something already listens on.
# stop stops the instance (SIGTERM to its master, waiting for it to go; SIGKILL after 10 s)
# and succeeds when nothing runs in DIR.
#
# The system Dovecot (/etc/dovecot, /run/dovecot, /var/lib/dovecot, ports 143/993) is
# never read, started or stopped: the generated configuration includes nothing from /etc.
#
# Users: run as root, the master stays root (it must, to change to the other users), the
# login processes run as 'dovenull' and internal services as 'dovecot' (both created by the
# dovecot-core package), and the mail processes as the unprivileged system user 'gwtestimap'
# (created with useradd on first use; Dovecot refuses mail access as root). DIR and its
# parents must be traversable by that user (the script makes DIR itself 0755). Run as
# another user, everything runs as that user (Dovecot's rootless mode).
#
# Dovecot 2.3 (Debian 12) and 2.4 (Debian 13) use different configuration syntax; the script
# writes the one matching 'dovecot --version'. Only the 2.3 form has been run here.
set -euo pipefail
# shellcheck source=instance-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/instance-lib.sh"

MAIL_USER=gwtestimap
START_TIMEOUT=${DOVECOT_INSTANCE_START_TIMEOUT:-30}
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

usage() {
    echo "usage: $0 start DIR PORT USER PASSWORD | stop DIR" >&2
    exit 2
}

die() {
    echo "dovecot-instance: $*" >&2
    exit 1
}




# Wait until PORT answers with this instance's greeting (it names the instance), bounded by
# START_TIMEOUT; fail early if the master has exited.
wait_for_greeting() {
    local port=$1 name=$2 pidfile=$3 deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if timeout 3 bash -c '
                exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
                IFS= read -r -t 2 line <&3 || exit 1
                printf "x LOGOUT\r\n" >&3
                [[ $line == "* OK"* && $line == *"'"$name"'"* ]]' 2>/dev/null; then
            return 0
        fi
        if [[ -f $pidfile ]]; then
            local pid
            pid=$(tr -dc '0-9' <"$pidfile" || true)
            [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
        fi
        sleep 0.1
    done
    return 1
}

ensure_mail_user() {
    if ! id -u "$MAIL_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$MAIL_USER" 2>/dev/null \
            || id -u "$MAIL_USER" >/dev/null 2>&1 \
            || die "cannot create system user $MAIL_USER"
    fi
}

# 2.3.19.1 (9b53102964) -> 203; 2.4.1-4 -> 204
dovecot_version() {
    local v major minor
    v=$(dovecot --version 2>/dev/null | awk '{print $1}')
    [[ $v =~ ^([0-9]+)\.([0-9]+) ]] || die "cannot read 'dovecot --version' ('$v')"
    major=${BASH_REMATCH[1]}
    minor=${BASH_REMATCH[2]}
    echo $((major * 100 + minor))
}

# The parts common to both syntaxes: paths, listener, services, mailboxes.
write_common() {
    local dir=$1 port=$2 name=$3 internal_user=$4 internal_group=$5 login_user=$6
    cat <<EOF
base_dir = $dir/run
state_dir = $dir/state
instance_name = $name
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
debug_log_path = $dir/dovecot.log

protocols = imap
listen = 127.0.0.1
login_greeting = Dovecot test instance $name ready.
ssl = no
auth_mechanisms = plain login
default_internal_user = $internal_user
default_internal_group = $internal_group
default_login_user = $login_user
# Only IMAP, on 127.0.0.1:$port; no imaps, no chroot (the rootless mode needs none either).
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
# No brute-force slow-down: tests log in with wrong passwords on purpose, and Dovecot's penalty
# (2 s, doubling per failure from the same address up to 15 s) would make them crawl. A
# listener with mode 0 is not created, which switches the penalty off.
auth_failure_delay = 0
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  inet_listener http {
    port = 0
  }
}
mail_fsync = optimized
EOF
}

write_mailboxes() {
    cat <<'EOF'
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
    auto = create
  }
  mailbox Drafts {
    special_use = \Drafts
    auto = create
  }
  mailbox Trash {
    special_use = \Trash
    auto = create
  }
  mailbox Junk {
    special_use = \Junk
    auto = create
  }
  mailbox Archive {
    special_use = \Archive
    auto = create
  }
}
EOF
}

write_config() {
    local dir=$1 port=$2 name=$3 version=$4 mail_uid=$5 mail_gid=$6
    local internal_user=$7 internal_group=$8 login_user=$9
    echo "# Generated by dovecot-instance.sh - private test instance, do not edit."
    if ((version >= 204)); then
        # Dovecot 2.4: versioned configuration (must come first), renamed settings, %{var} syntax.
        echo "dovecot_config_version = 2.4.0"
        echo "dovecot_storage_version = 2.4.0"
        write_common "$dir" "$port" "$name" "$internal_user" "$internal_group" "$login_user"
        cat <<EOF
auth_allow_cleartext = yes
first_valid_uid = $mail_uid
first_valid_gid = $mail_gid
mail_uid = $mail_uid
mail_gid = $mail_gid
mail_home = $dir/mail/%{user}
mail_driver = maildir
mail_path = ~/Maildir
passdb passwd-file {
  passwd_file_path = $dir/users
}
userdb passwd-file {
  passwd_file_path = $dir/users
}
EOF
    else
        write_common "$dir" "$port" "$name" "$internal_user" "$internal_group" "$login_user"
        cat <<EOF
disable_plaintext_auth = no
first_valid_uid = $mail_uid
first_valid_gid = $mail_gid
mail_uid = $mail_uid
mail_gid = $mail_gid
mail_home = $dir/mail/%u
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = $dir/users
}
userdb {
  driver = passwd-file
  args = $dir/users
}
EOF
    fi
    write_mailboxes
}

cmd_start() {
    (($# == 4)) || usage
    local dir port=$2 user=$3 password=$4
    [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "bad PORT '$port'"
    [[ -n $user && $user != *[[:space:]:/]* && $user != .* ]] || die "bad USER '$user' (no blanks, ':' or '/')"
    [[ -n $password && $password != *[:$'\n\r']* ]] || die "bad PASSWORD (empty, or contains ':' or a line break)"
    command -v dovecot >/dev/null || die "dovecot is not installed (apt-get install dovecot-imapd)"
    [[ -x /usr/lib/dovecot/imap ]] \
        || die "the imap service is missing (apt-get install dovecot-imapd)"

    dir=$(abs_dir "$1")
    [[ $dir != / && $dir != /etc* && $dir != /run/dovecot* && $dir != /var/lib/dovecot* ]] || die "refusing DIR '$dir'"
    [[ $dir =~ ^[A-Za-z0-9_./+-]+$ ]] || die "DIR '$dir' must not contain blanks or special characters (it goes into dovecot.conf)"

    local pidfile=$dir/run/master.pid
    if [[ -f $pidfile ]] && kill -0 "$(tr -dc '0-9' <"$pidfile")" 2>/dev/null; then
        die "an instance is already running in $dir (stop it first)"
    fi
    port_in_use "$port" && die "127.0.0.1:$port is already in use"

    local version mail_uid mail_gid internal_user internal_group login_user
    version=$(dovecot_version)
    if [[ $(id -u) == 0 ]]; then
        ensure_mail_user
        mail_uid=$(id -u "$MAIL_USER")
        mail_gid=$(id -g "$MAIL_USER")
        id -u dovecot >/dev/null 2>&1 || die "system user 'dovecot' is missing (it comes with dovecot-core)"
        id -u dovenull >/dev/null 2>&1 || die "system user 'dovenull' is missing (it comes with dovecot-core)"
        internal_user=dovecot
        internal_group=dovecot
        login_user=dovenull
    else
        mail_uid=$(id -u)
        mail_gid=$(id -g)
        internal_user=$(id -un)
        internal_group=$(id -gn)
        login_user=$internal_user
    fi

    local name="gwtest-$port"
    chmod 0755 "$dir"
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    rm -f "$dir/dovecot.log"
    : >"$dir/dovecot.log"
    if [[ $(id -u) == 0 ]]; then
        chown "$mail_uid:$mail_gid" "$dir/mail"
        chmod 0750 "$dir/mail"
        if command -v runuser >/dev/null && ! runuser -u "$MAIL_USER" -- test -w "$dir/mail"; then
            die "$MAIL_USER cannot reach $dir/mail (a parent directory is not traversable)"
        fi
    fi

    # user:password:uid:gid:gecos:home:shell:extra (uid/gid/home come from mail_uid/mail_home).
    umask 077
    printf '%s:{PLAIN}%s::::::\n' "$user" "$password" >"$dir/users"
    [[ $(id -u) == 0 ]] && chown root:"$internal_group" "$dir/users" && chmod 0640 "$dir/users"
    umask 022

    write_config "$dir" "$port" "$name" "$version" "$mail_uid" "$mail_gid" \
        "$internal_user" "$internal_group" "$login_user" >"$dir/dovecot.conf"

    if ! dovecot -c "$dir/dovecot.conf" >"$dir/dovecot.start.out" 2>&1; then
        cat "$dir/dovecot.start.out" >&2
        print_log_tail "$dir/dovecot.log"
        die "dovecot -c $dir/dovecot.conf failed"
    fi
    if ! wait_for_greeting "$port" "$name" "$pidfile"; then
        echo "dovecot-instance: IMAP on 127.0.0.1:$port did not greet within ${START_TIMEOUT}s" >&2
        cat "$dir/dovecot.start.out" >&2 || true
        print_log_tail "$dir/dovecot.log"
        cmd_stop "$dir" || true
        exit 1
    fi
}

alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

cmd_stop() {
    (($# == 1)) || usage
    local dir=$1 pidfile pid i
    [[ -d $dir ]] || return 0
    dir=$(cd -- "$dir" && pwd -P)
    pidfile=$dir/run/master.pid
    [[ -f $pidfile ]] || return 0
    pid=$(tr -dc '0-9' <"$pidfile" || true)
    [[ -n $pid ]] || return 0
    # Only our own master: its command line names our configuration file.
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/dovecot.conf"; then
        rm -f "$pidfile"
        return 0
    fi
    # The master has daemonised: its parent is init (or a subreaper), which may be slow to reap
    # it, so a zombie counts as gone. Dovecot's own shutdown takes about 2 s.
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$pidfile"
    return 0
}

(($# >= 1)) || usage
cmd=$1
shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
*) usage ;;
esac
