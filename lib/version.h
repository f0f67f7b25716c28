/* version.h - the version of image-server, shown in the log and on /status. */
#ifndef IMGSRV_VERSION_H
#define IMGSRV_VERSION_H

#define IMGSRV_VERSION "0.1.0"

#endif
