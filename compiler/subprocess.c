#include "subprocess.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int spawn_run(char *const argv[], int verbose, lm_err *e)
{
    if (verbose) {
        for (int i = 0; argv[i]; i++)
            fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
        fputc('\n', stderr);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc != 0)
        return lm_fail(e, "%s: cannot run: %s; install it or set LMCC_CC", argv[0], strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return lm_fail(e, "%s: wait failed: %s", argv[0], strerror(errno));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return lm_fail(e, "%s: killed by signal %d", argv[0], WTERMSIG(status));
    return lm_fail(e, "%s: failed with exit status %d (its output is above)", argv[0], WEXITSTATUS(status));
}
