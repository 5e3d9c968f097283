#!/usr/bin/env bash
# postfix-instance.sh - run a private, throw-away Postfix instance inside one directory.
#
#   postfix-instance.sh start DIR SMTPD_PORT [RELAYHOST]   # RELAYHOST like 127.0.0.1:2525
#   postfix-instance.sh stop DIR
#   postfix-instance.sh status DIR                          # exit 0 when the master runs
#
# Everything lives under DIR:
#   DIR/etc        main.cf, master.cf, virtual_mailbox (regexp), maildir-deliver
#                  (everything is run with postfix -c DIR/etc)
#   DIR/queue      queue_directory
#   DIR/data       data_directory
#   DIR/maildir    virtual_mailbox_base: mail for anyone@postfix.test lands in
#                  DIR/maildir/<lower-cased localpart>/new/ (Maildir: one file per message,
#                  written to tmp/ and renamed into new/, with Return-Path, X-Original-To and
#                  Delivered-To prepended)
#   DIR/postfix.log  maillog_file (written by the instance's own postlogd)
#   DIR/postfix.check.out  output of postfix check/start
#
# smtpd listens only on 127.0.0.1:SMTPD_PORT; nothing else is exposed (no port 25).
# With RELAYHOST, mail for every domain other than postfix.test is relayed there
# (STARTTLS opportunistic, certificate not checked). No DNS is used anywhere.
#
# The system Postfix (/etc/postfix, /var/spool/postfix) is never touched, started or stopped.
# Nothing needs to be added to /etc/postfix/main.cf: alternate_config_directories is only
# enforced for set-gid commands (postdrop, postqueue) run by non-root users; the postfix(1)
# command run as root accepts any -c directory. The compiled-in meta_directory
# (/etc/postfix: postfix-files, dynamicmaps.cf) and daemon_directory are only read.
#
# start waits (POSTFIX_INSTANCE_START_TIMEOUT, default 30 s) for the instance's own 220
# greeting and fails, printing the log tail, if it does not come; it also refuses a port
# something already listens on (Linux SO_REUSEPORT would otherwise let both share it).
#
# Requires root (postfix start). Virtual deliveries run as the unprivileged system user
# 'gwtestmail', created with useradd on first use; DIR and its parents must be traversable
# by that user (the script makes DIR itself 0755).
set -euo pipefail
# shellcheck source=instance-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/instance-lib.sh"

VMAIL_USER=gwtestmail
START_TIMEOUT=${POSTFIX_INSTANCE_START_TIMEOUT:-30}

usage() {
    echo "usage: $0 start DIR SMTPD_PORT [RELAYHOST] | stop DIR | status DIR" >&2
    exit 2
}

die() {
    echo "postfix-instance: $*" >&2
    exit 1
}




# Wait until $port on 127.0.0.1 answers with our own 220 greeting (banner contains the
# instance's syslog_name); bounded by $START_TIMEOUT seconds.
wait_for_smtpd() {
    local port=$1 name=$2 deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if timeout 3 bash -c '
                exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
                IFS= read -r -t 2 line <&3 || exit 1
                printf "QUIT\r\n" >&3
                [[ $line == 220* && $line == *"'"$name"'"* ]]' 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

ensure_vmail_user() {
    if ! id -u "$VMAIL_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$VMAIL_USER" 2>/dev/null \
            || id -u "$VMAIL_USER" >/dev/null 2>&1 \
            || die "cannot create system user $VMAIL_USER"
    fi
}

cmd_start() {
    (($# >= 2 && $# <= 3)) || usage
    local dir port relay=${3:-}
    port=$2
    [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "bad SMTPD_PORT '$port'"
    [[ $(id -u) == 0 ]] || die "must run as root"
    command -v postfix >/dev/null || [[ -x /usr/sbin/postfix ]] || die "postfix is not installed"
    export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

    dir=$(abs_dir "$1")
    [[ $dir != / && $dir != /etc/postfix* && $dir != /var/spool/postfix* ]] || die "refusing DIR '$dir'"
    [[ $dir =~ ^[A-Za-z0-9_./+-]+$ ]] || die "DIR '$dir' must not contain blanks or special characters (it goes into main.cf)"

    if [[ -f $dir/etc/main.cf ]] && postfix -c "$dir/etc" status >/dev/null 2>&1; then
        die "an instance is already running in $dir (stop it first)"
    fi

    local relayhost=""
    if [[ -n $relay ]]; then
        # 127.0.0.1:2525 -> [127.0.0.1]:2525 (brackets: no MX lookup); keep an already bracketed form.
        if [[ $relay == \[* ]]; then
            relayhost=$relay
        elif [[ $relay =~ ^(.+):([0-9]+)$ ]]; then
            relayhost="[${BASH_REMATCH[1]}]:${BASH_REMATCH[2]}"
        else
            relayhost="[$relay]"
        fi
    fi

    # Linux lets two root processes share a port with SO_REUSEPORT, which would hide a
    # collision; refuse a port somebody already listens on.
    port_in_use "$port" && die "127.0.0.1:$port is already in use"

    ensure_vmail_user
    local vuid vgid
    vuid=$(id -u "$VMAIL_USER")
    vgid=$(id -g "$VMAIL_USER")

    chmod 0755 "$dir"
    mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/maildir"
    # A throw-away certificate so that smtpd offers STARTTLS, as any real MTA does.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=postfix.test" \
        -keyout "$dir/etc/smtpd.key" -out "$dir/etc/smtpd.pem" >/dev/null 2>&1 || { echo "openssl could not make a certificate" >&2; exit 1; }
    chmod 600 "$dir/etc/smtpd.key"
    chown root:root "$dir/etc" "$dir/queue"
    chmod 0755 "$dir/etc" "$dir/queue"
    chown postfix:postfix "$dir/data"
    chmod 0700 "$dir/data"
    chown "$vuid:$vgid" "$dir/maildir"
    chmod 0750 "$dir/maildir"
    : >>"$dir/postfix.log"

    if command -v runuser >/dev/null && ! runuser -u "$VMAIL_USER" -- test -w "$dir/maildir"; then
        echo "postfix-instance: warning: $VMAIL_USER cannot reach $dir/maildir" \
             "(a parent directory is not traversable); virtual delivery will fail" >&2
    fi

    local name="postfix-gwtest-$port"

    # Recipient validation: any localpart @postfix.test exists.
    cat >"$dir/etc/virtual_mailbox" <<'EOF'
/^[^@]+@postfix\.test$/	maildir
EOF

    # Per-user Maildir delivery. virtual(8) refuses $1 substitution in virtual_mailbox_maps
    # ("regular expression substitution is not allowed"), so the per-localpart mailbox is
    # written by this small pipe(8) command instead, running as $VMAIL_USER, the Maildir way
    # (write into tmp/, then rename into new/). pipe(8) adds Delivered-To, Return-Path and
    # X-Original-To like virtual(8) would; the localpart is lower-cased (flag u).
    {
        echo '#!/bin/bash'
        echo '# maildir-deliver LOCALPART < message   (generated by postfix-instance.sh)'
        echo 'umask 022'
        printf "base='%s'\n" "$dir/maildir"
        cat <<'EOS'
user=${1:-}
case $user in '' | . | .. | */*) user="invalid-localpart" ;; esac
box="$base/$user"
mkdir -p "$box/tmp" "$box/new" "$box/cur" || exit 75
name="$(date +%s).M$(date +%N)P$$R$RANDOM.postfix.test"
cat >"$box/tmp/$name" || { rm -f "$box/tmp/$name"; exit 75; }
sync "$box/tmp/$name" 2>/dev/null || true
mv "$box/tmp/$name" "$box/new/$name" || exit 75
exit 0
EOS
    } >"$dir/etc/maildir-deliver"
    chmod 0755 "$dir/etc/maildir-deliver"

    cat >"$dir/etc/main.cf" <<EOF
# Generated by postfix-instance.sh - private test instance, do not edit.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
syslog_name = $name
maillog_file = $dir/postfix.log
maillog_file_prefixes = $dir
maillog_file_rotate_suffix = %Y%m%d-%H%M%S

myhostname = postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = \$myhostname ESMTP Postfix (test instance $name)
smtputf8_enable = yes
message_size_limit = 104857600
mailbox_size_limit = 0
virtual_mailbox_limit = 0
biff = no
append_dot_mydomain = no
recipient_delimiter =
notify_classes =

# No DNS on this machine: never query it.
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no

# Virtual mailbox domain: anyone@postfix.test -> $dir/maildir/<localpart>/new/,
# delivered by the 'maildir' pipe service (master.cf, etc/maildir-deliver).
virtual_mailbox_domains = postfix.test
virtual_mailbox_base = $dir/maildir
virtual_mailbox_maps = regexp:$dir/etc/virtual_mailbox
virtual_uid_maps = static:$vuid
virtual_gid_maps = static:$vgid
virtual_minimum_uid = 1
virtual_transport = maildir
maildir_destination_recipient_limit = 1

# Everything else goes to the relay host (when given).
relayhost = $relayhost
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/etc/smtpd.pem
smtpd_tls_key_file = $dir/etc/smtpd.key
smtpd_tls_loglevel = 1

# Fast retries for tests.
minimal_backoff_time = 2s
maximal_backoff_time = 10s
queue_run_delay = 2s
bounce_queue_lifetime = 1h
maximal_queue_lifetime = 1h
EOF

    # Only internal services plus one smtpd on loopback; chroot off everywhere.
    cat >"$dir/etc/master.cf" <<EOF
# Generated by postfix-instance.sh - private test instance, do not edit.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
maildir   unix  -       n       n       -       -       pipe
  flags=ODRu user=$VMAIL_USER argv=$dir/etc/maildir-deliver \${user}
EOF

    # 'postfix check' (run by start as well) creates the queue subdirectories with the
    # right owners; set-permissions is not needed for a fresh queue.
    if ! postfix -c "$dir/etc" check >>"$dir/postfix.check.out" 2>&1; then
        cat "$dir/postfix.check.out" >&2
        die "postfix check failed for $dir/etc"
    fi
    if ! postfix -c "$dir/etc" start >>"$dir/postfix.check.out" 2>&1; then
        cat "$dir/postfix.check.out" >&2
        print_log_tail "$dir/postfix.log"
        die "postfix start failed for $dir/etc"
    fi

    if ! wait_for_smtpd "$port" "$name"; then
        echo "postfix-instance: smtpd on 127.0.0.1:$port did not answer within ${START_TIMEOUT}s" >&2
        print_log_tail "$dir/postfix.log"
        postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
        exit 1
    fi
    echo "postfix-instance: started $name in $dir (smtpd 127.0.0.1:$port${relayhost:+, relayhost $relayhost})"
}

cmd_stop() {
    (($# == 1)) || usage
    local dir=$1
    export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
    [[ -f $dir/etc/main.cf ]] || return 0
    dir=$(cd -- "$dir" && pwd -P)
    postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
    # postfix stop returns once the master got SIGTERM; wait (bounded) for it to be gone.
    local pidfile=$dir/queue/pid/master.pid pid="" i
    [[ -f $pidfile ]] && pid=$(tr -dc '0-9' <"$pidfile" || true)
    if [[ -n $pid ]]; then
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == master ]]; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    return 0
}

cmd_status() {
    (($# == 1)) || usage
    export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
    [[ -f $1/etc/main.cf ]] || exit 1
    postfix -c "$1/etc" status
}

(($# >= 1)) || usage
cmd=$1
shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
*) usage ;;
esac
