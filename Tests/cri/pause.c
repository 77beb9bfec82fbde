/* The sandbox ("pause") process of the CRI test tier: holds the pod's namespaces open and does
 * nothing else. It sleeps in pause() until SIGINT or SIGTERM, then exits 0; as PID 1 of the pod it
 * also reaps any child that gets reparented to it. Built with `gcc -static -O2` so the image needs
 * no libc: the image is this one file.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;

static void on_stop(int signo) {
    (void)signo;
    stopping = 1;
}

static void on_child(int signo) {
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_handler = on_stop;
    if (sigaction(SIGINT, &action, NULL) < 0 || sigaction(SIGTERM, &action, NULL) < 0) {
        return 1;
    }
    action.sa_handler = on_child;
    action.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &action, NULL) < 0) {
        return 2;
    }
    while (!stopping) {
        pause();
    }
    return 0;
}
