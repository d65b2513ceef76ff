/*
 * flywheel-leader: the job leader (exec/leader.h) as a program of its own,
 * linked against the C library alone, so that starting it for every job
 * costs as little as possible. `flywheel __leader` is the same code, used
 * when this program is not installed next to flywheel.
 */
#include "exec/leader.h"

int main(int argc, char **argv)
{
    return leader_main(argc, argv);
}
