#!/usr/bin/perl
# tests/e2e/lying_origin.pl PORT JPEG: an HTTP/1.1 origin on 127.0.0.1:PORT
# that misbehaves on purpose, for tests/e2e/test_faults.sh. Core modules only.
#
#   /short/X    200, Content-Length: 100000, but only the first 1000 bytes
#               of JPEG are sent, then the connection is closed
#   /html/X     200 text/html with an HTML page (not an image)
#   /endless/X  200 image/jpeg, no Content-Length, bytes forever (JPEG's
#               first bytes, then filler) until the client hangs up
#   /trickle/X  200 image/jpeg, Content-Length of JPEG, one byte per second
#   anything    404
#
# One child per connection (fork), one request per connection. It exits when
# its parent dies or after 120 s; a child stops when the client hangs up,
# when the server is gone, or after 60 s.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use POSIX ();

my ($port, $jpeg) = @ARGV;
die "usage: $0 PORT JPEG\n" unless $port && $jpeg;
open(my $fh, '<:raw', $jpeg) or die "$jpeg: $!\n";
my $img = do { local $/; <$fh> };
close $fh;

my $ppid = getppid();
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
	Proto => 'tcp', Listen => 64, ReuseAddr => 1) or die "listen $port: $!\n";
$SIG{CHLD} = 'IGNORE';  # no zombies
$SIG{PIPE} = 'IGNORE';  # a write to a closed client fails instead
my $deadline = time + 120;
my $sel = IO::Select->new($srv);

while (time < $deadline && getppid() == $ppid) {
	next unless $sel->can_read(0.5);
	my $c = $srv->accept or next;
	my $pid = fork;
	if (!defined $pid) { close $c; next; }
	if ($pid == 0) {
		close $srv;
		$SIG{ALRM} = 'DEFAULT';
		alarm 60;
		serve($c);
		POSIX::_exit(0);
	}
	close $c;
}
exit 0;

sub put {
	my ($c, $s) = @_;
	return defined syswrite($c, $s);
}

sub head {
	my ($c, $type, $len) = @_;
	my $h = "HTTP/1.1 200 OK\r\nContent-Type: $type\r\nConnection: close\r\n";
	$h .= "Content-Length: $len\r\n" if defined $len;
	put($c, "$h\r\n");
}

sub serve {
	my ($c) = @_;
	my $req = '';
	while ($req !~ /\r?\n\r?\n/) {
		my $n = sysread($c, $req, 4096, length $req);
		return unless $n;
		return if length $req > 65536;
	}
	my ($path) = $req =~ m{^GET (\S+) HTTP/1\.[01]\r?\n} or return;
	if ($path =~ m{^/short/}) {
		head($c, 'image/jpeg', 100000);
		put($c, substr($img, 0, 1000));
	} elsif ($path =~ m{^/html/}) {
		my $b = "<!DOCTYPE html>\n<html><head><title>Moved</title></head>"
		    . "<body><p>This image has moved.</p></body></html>\n";
		head($c, 'text/html; charset=utf-8', length $b);
		put($c, $b);
	} elsif ($path =~ m{^/endless/}) {
		head($c, 'image/jpeg', undef);
		put($c, substr($img, 0, 4096)) or return;
		my $chunk = "\0" x 65536;
		my $server = getppid();
		while (getppid() == $server && put($c, $chunk)) { }
	} elsif ($path =~ m{^/trickle/}) {
		head($c, 'image/jpeg', length $img);
		my $server = getppid();
		for my $i (0 .. length($img) - 1) {
			put($c, substr($img, $i, 1)) or return;
			sleep 1;
			return if getppid() != $server;
		}
	} else {
		my $b = "not found\n";
		put($c, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
		    . "Content-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b");
	}
	shutdown($c, 1);
	close $c;
}
