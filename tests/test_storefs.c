/* test_storefs.c - the store's mount options (lib/storefs.c) read from
 * mountinfo text as Linux writes it, NFS mounts among them, since kernel
 * NFS cannot run where the tests do; and this process's own mountinfo. */
#include <string.h>

#include "storefs.h"
#include "test.h"

static const char mountinfo[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
	"40 22 0:35 / /srv/store rw,noatime shared:20 - nfs4 10.0.0.5:/export/store "
	"rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,"
	"timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.11,local_lock=none,"
	"addr=10.0.0.5\n"
	"41 22 0:36 / /srv/good rw,noatime shared:21 - nfs4 10.0.0.5:/export/good "
	"rw,vers=4.2,hard,lookupcache=pos,proto=tcp\n"
	"42 22 0:37 / /srv/bad rw - nfs 10.0.0.5:/x rw,vers=3,soft,nocto,"
	"lookupcache=none\n"
	"43 22 0:38 / /srv/ro ro,relatime - ext4 /dev/sdb1 ro\n"
	"44 22 0:39 / /srv/with\\040space rw master:3 - tmpfs tmpfs rw,size=1024k\n"
	"45 22 0:40 / /srv/v2 rw - nfs h:/y rw,vers=2,hard,lookupcache=positive\n"
	"46 22 0:41 / /srv/ro rw - tmpfs tmpfs rw\n"
	"garbage line\n";

/* The warnings of rep, joined by " | ". */
static const char *joined(const struct storefs_report *rep)
{
	static char all[2048];

	all[0] = '\0';
	for (int i = 0; i < rep->nwarn; i++) {
		if (i)
			strcat(all, " | ");
		strcat(all, rep->warn[i]);
	}
	return all;
}

int main(void)
{
	struct storefs_report rep;

	/* An NFS store mounted with the defaults: negative lookups cached. */
	CHECK_INT(storefs_check("/srv/store/user/avatar", mountinfo, &rep), 0);
	CHECK_STR(rep.mount_point, "/srv/store");
	CHECK_STR(rep.fstype, "nfs4");
	CHECK(strstr(rep.options, "noatime") && strstr(rep.options, "vers=4.2"),
	      "%s", rep.options);
	CHECK_INT(rep.nwarn, 1);
	CHECK(strstr(joined(&rep), "lookupcache=positive") != NULL, "%s", joined(&rep));

	/* Mounted as the docs say: nothing to say. */
	CHECK_INT(storefs_check("/srv/good", mountinfo, &rep), 0);
	CHECK_STR(rep.fstype, "nfs4");
	CHECK_INT(rep.nwarn, 0);

	/* soft and nocto both break the contract; lookupcache=none is fine. */
	CHECK_INT(storefs_check("/srv/bad/x", mountinfo, &rep), 0);
	CHECK_INT(rep.nwarn, 2);
	CHECK(strstr(joined(&rep), "soft:") && strstr(joined(&rep), "nocto:"),
	      "%s", joined(&rep));
	CHECK_INT(storefs_check("/srv/v2", mountinfo, &rep), 0);
	CHECK_INT(rep.nwarn, 1);
	CHECK(strstr(joined(&rep), "NFSv2") != NULL, "%s", joined(&rep));

	/* Mount points: a whole path component, the longest, the last of
	 * two on one point, escapes undone. */
	CHECK_INT(storefs_check("/srv/storeroom", mountinfo, &rep), 0);
	CHECK_STR(rep.mount_point, "/");
	CHECK_STR(rep.fstype, "ext4");
	CHECK_INT(rep.nwarn, 0);
	CHECK_INT(storefs_check("/srv/ro/a", mountinfo, &rep), 0);
	CHECK_STR(rep.fstype, "tmpfs");
	CHECK_INT(rep.nwarn, 0);
	CHECK_INT(storefs_check("/srv/with space/a", mountinfo, &rep), 0);
	CHECK_STR(rep.mount_point, "/srv/with space");
	CHECK_STR(rep.fstype, "tmpfs");

	/* A read-only mount (the mount's own options). */
	CHECK_INT(storefs_check("/x", "43 22 0:38 / / ro,relatime - ext4 /dev/sdb1 rw\n",
				&rep), 0);
	CHECK(strstr(joined(&rep), "read-only") != NULL, "%s", joined(&rep));
	CHECK_INT(storefs_check("/x", "nothing here\n", &rep), -1);
	CHECK_INT(storefs_check("/x", "", &rep), -1);

	/* This process's own mounts. */
	CHECK_INT(storefs_check_self("/", &rep), 0);
	CHECK_STR(rep.mount_point, "/");
	CHECK_INT(storefs_check_self("/no/such/dir", &rep), -1);
	return TEST_END("storefs");
}
