/* dposweep: the command-line tool. */
#include "dposweep/cli.h"

int main(int argc, char **argv)
{
  return cli_main(argc, argv);
}
