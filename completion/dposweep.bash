# bash completion for dposweep, dposweep-submit and dposweep-report
# (installed as DATADIR/bash-completion/completions/dposweep, with links
# for the other two, so bash-completion loads it on first use; without
# bash-completion, `source` this file).  Self-contained: it needs none of
# bash-completion's helpers.  tests/install/test_completion.py checks that
# it offers every command and flag of the --help texts.

# _dposweep_words WORDS...: complete the current word from a list.
_dposweep_words()
{
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$*" -- "${COMP_WORDS[COMP_CWORD]}"))
}

# _dposweep_files [EXT...]: files with one of the extensions, and directories.
_dposweep_files()
{
    local cur=${COMP_WORDS[COMP_CWORD]} ext line
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -d -- "$cur"))
    if [ $# -eq 0 ]; then
        COMPREPLY+=($(compgen -f -- "$cur"))
        return
    fi
    for ext in "$@"; do
        COMPREPLY+=($(compgen -f -X "!*.$ext" -- "$cur"))
    done
}

_dposweep_dirs()
{
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -d -- "${COMP_WORDS[COMP_CWORD]}"))
}

_dposweep()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd="" i
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    case $cmd in
        "")
            _dposweep_words sim plan run status merge verify --version --help
            ;;
        sim)
            case $prev in
                --regime) _dposweep_words uniform mix-r mix-p mix-p-clip \
                              on-policy hybrid reference; return ;;
                --scale) _dposweep_words theory normalized; return ;;
                --eta) _dposweep_words theory; return ;;
                --rewards) _dposweep_words uniform normal; return ;;
                --arms|--beta|--iterations|--sigma|--samples|--seed|\
                --master-seed|--every|--ref-spread|--ref-logits) return ;;
            esac
            _dposweep_words --regime --arms --beta --iterations --scale \
                --eta --sigma --samples --rewards --ref-spread --ref-logits \
                --seed --master-seed --every --help
            ;;
        plan)
            if [[ $cur == --format=* ]]; then
                COMPREPLY=($(compgen -P --format= -W "text kv" \
                    -- "${cur#--format=}"))
            elif [[ $cur == -* ]]; then
                _dposweep_words --list --format=text --format=kv --help
            else
                _dposweep_files yaml yml
            fi
            ;;
        run)
            case $prev in
                -o|--output|--reuse) _dposweep_files h5; return ;;
                --grace|--flush-interval|--progress-interval|\
                --chunk-seconds) return ;;
            esac
            if [[ $cur == -* ]]; then
                _dposweep_words --output --reuse --force --grace \
                    --flush-interval --progress-interval --chunk-seconds \
                    --quiet --stats --help
            else
                _dposweep_files yaml yml
            fi
            ;;
        verify)
            case $prev in
                --recompute) _dposweep_words all; return ;;
                --seed|--progress-interval) return ;;
            esac
            if [[ $cur == -* ]]; then
                _dposweep_words --recompute --seed --progress-interval \
                    --quiet --help
            else
                _dposweep_files h5
            fi
            ;;
        merge)
            case $prev in
                -o|--output) _dposweep_files h5; return ;;
                --spec-out) _dposweep_files yaml yml; return ;;
            esac
            if [[ $cur == -* ]]; then
                _dposweep_words --output --force --spec-out --help
            else
                _dposweep_files h5
            fi
            ;;
        status)
            if [[ $cur == --format=* ]]; then
                COMPREPLY=($(compgen -P --format= -W "text kv" \
                    -- "${cur#--format=}"))
            elif [[ $cur == -* ]]; then
                _dposweep_words --format=text --format=kv --help
            else
                _dposweep_files h5
            fi
            ;;
    esac
}

_dposweep_submit()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        if [[ $cur == -* ]]; then
            _dposweep_words --status --cancel --help
        else
            _dposweep_files yaml yml
        fi
    elif [ "$COMP_CWORD" -eq 2 ]; then
        _dposweep_files h5
    elif [[ ${COMP_WORDS[1]} != -* && $cur == -* ]]; then
        # After SPEC OUT.h5: the sbatch options most chains need.
        compopt -o nospace 2>/dev/null
        _dposweep_words --time= --nodes= --ntasks= --ntasks-per-node= \
            --cpus-per-task= --partition= --account= --qos= --job-name= \
            --mem= --constraint= --signal= --output= --mail-type= \
            --mail-user=
    fi
}

_dposweep_report()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    case $prev in
        -o|--output) _dposweep_dirs; return ;;
        --metric) _dposweep_words max_abs_delta mean_abs_delta value_gap
                  return ;;
        --threshold) return ;;
    esac
    if [[ $cur == -* ]]; then
        _dposweep_words --output --metric --threshold --help
    else
        _dposweep_files h5
    fi
}

complete -F _dposweep dposweep
complete -F _dposweep_submit dposweep-submit
complete -F _dposweep_report dposweep-report
