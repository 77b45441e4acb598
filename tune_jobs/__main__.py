from tune_jobs.cli import main

main()
