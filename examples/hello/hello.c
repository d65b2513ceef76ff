/* A tiny program for flywheel's examples: prints a greeting. */
#include <stdio.h>
#include <string.h>

const char *greeting(const char *name)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "hello, %s", name && *name ? name : "world");
    return buf;
}

#ifndef HELLO_TEST
int main(int argc, char **argv)
{
    puts(greeting(argc > 1 ? argv[1] : NULL));
    return 0;
}
#else
int main(void)
{
    if (strcmp(greeting("flywheel"), "hello, flywheel") || strcmp(greeting(NULL), "hello, world")) {
        puts("FAIL greeting");
        return 1;
    }
    puts("ok greeting");
    return 0;
}
#endif
