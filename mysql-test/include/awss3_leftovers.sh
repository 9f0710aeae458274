#!/bin/sh
# usage: awss3_leftovers.sh MYSQLD_PID_FILE S3_PORT
# Says whether mysqld has threads named awss3-io (the plugin's runtime) and
# established TCP connections to the S3 port.
pid=$(cat "$1") port=$2
threads=$(grep -lx 'awss3-io' /proc/"$pid"/task/*/comm 2>/dev/null | wc -l)
conns=$(ss -Htnp state established "( dport = :$port )" | grep -c "pid=$pid,")
[ "$threads" -gt 0 ] && echo "awss3-io threads: present" || echo "awss3-io threads: none"
[ "$conns" -gt 0 ] && echo "connections to S3: present" || echo "connections to S3: none"
