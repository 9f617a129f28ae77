from clave_lite.cli import main

main()
