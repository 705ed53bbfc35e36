<?php
/*
 * A small ISPConfig 3.2 remote API for interop tests, run with `php -S 127.0.0.1:PORT remote.php`.
 *
 * SOAP is PHP's own SoapServer in non-WSDL mode, as ISPConfig's remote/index.php uses it: arguments
 * arrive by position and are used as PHP arrays the way ISPConfig's handlers use them, so a struct
 * sent without the apache Map type arrives as stdClass and fails ("Cannot use object of type stdClass
 * as array"). remote/json.php binds a JSON body by parameter name with ReflectionMethod, like
 * ISPConfig's json_handler. The state (same shape as the Python sandbox's dump(), plus sessions and a
 * clock offset) lives in the JSON file named by HOSTSYNC_ISPCONFIG_STATE; column defaults come from
 * the plugin's tables.json (HOSTSYNC_ISPCONFIG_TABLES).
 */

const SESSION_LIFETIME = 1800;
const BR = "<br />\r\n";

function state_path() { return getenv('HOSTSYNC_ISPCONFIG_STATE'); }

class Store {
    public static $data;
    public static $tables;
    private static $lock;

    public static function open() {
        self::$tables = json_decode(file_get_contents(getenv('HOSTSYNC_ISPCONFIG_TABLES')), true);
        self::$lock = fopen(state_path() . '.lock', 'c');
        flock(self::$lock, LOCK_EX);
        self::$data = json_decode(file_get_contents(state_path()), true);
        foreach (['sessions', 'auto_increment', 'tables', 'remote_users'] as $key) {
            if (!isset(self::$data[$key]) || !is_array(self::$data[$key])) self::$data[$key] = [];
        }
    }

    public static function save() {
        file_put_contents(state_path() . '.tmp', json_encode(self::$data));
        rename(state_path() . '.tmp', state_path());  // the request's lock is held until it ends
    }

    public static function now() { return time() + (int)(self::$data['clock_offset'] ?? 0); }

    public static function &rows($table) {
        if (!isset(self::$data['tables'][$table])) self::$data['tables'][$table] = [];
        return self::$data['tables'][$table];
    }

    public static function insert($table, $key, $row) {
        $next = (int)(self::$data['auto_increment'][$table] ?? 0);
        foreach (self::rows($table) as $existing) $next = max($next, (int)$existing[$key]);
        $next++;
        self::$data['auto_increment'][$table] = $next;
        $row[$key] = (string)$next;
        $rows = &self::rows($table);
        $rows[] = $row;
        return $next;
    }
}

/* MySQL stores what ISPConfig's db layer quotes: strings (true -> "1", false -> ""), or NULL. */
function db_string($value) {
    if ($value === null) return null;
    if (is_bool($value)) return $value ? '1' : '';
    if (is_array($value)) return 'Array';
    return (string)$value;
}

class remoting {
    private $keys = ['client' => 'client_id', 'domain' => 'domain_id', 'web_domain' => 'domain_id',
                     'sys_user' => 'userid', 'sys_group' => 'groupid', 'server' => 'server_id'];

    /* --- sessions (remoting.inc.php) --- */

    public function login($username, $password, $client_login = false) {
        if (empty($username)) throw new SoapFault('login_username_empty', 'The login username is empty.');
        if (empty($password)) throw new SoapFault('login_password_empty', 'The login password is empty.');
        foreach (Store::$data['remote_users'] as $user) {
            if ($user['remote_username'] === $username && $user['remote_password'] === $password) {
                $session_id = md5(random_bytes(16));
                Store::$data['sessions'][$session_id] = ['remote_userid' => $user['remote_userid'], 'tstamp' => Store::now()];
                return $session_id;
            }
        }
        throw new SoapFault('login_failed', 'The login failed. Username or password wrong.');
    }

    public function logout($session_id) {
        if (empty($session_id)) throw new SoapFault('session_id_empty', 'The SessionID is empty.');
        unset(Store::$data['sessions'][$session_id]);
        return true;
    }

    private function checkPerm($session_id, $function) {
        if (empty($session_id)) throw new SoapFault('session_id_empty', 'The SessionID is empty.');
        $session = Store::$data['sessions'][$session_id] ?? null;
        if ($session === null || Store::now() - $session['tstamp'] > SESSION_LIFETIME) {
            unset(Store::$data['sessions'][$session_id]);
            throw new SoapFault('session_does_not_exist', 'The Session is expired or does not exist.');
        }
        foreach (Store::$data['remote_users'] as $user) {
            if ($user['remote_userid'] == $session['remote_userid']) {
                $granted = array_map('trim', explode(',', $user['remote_functions']));
                if (in_array(explode('_', $function)[0], $granted)) return;
            }
        }
        throw new SoapFault('permission_denied', 'You do not have the permissions to access this function.');
    }

    /* --- remoting_lib --- */

    private function getDataRecord($table, $primary_id) {
        $rows = Store::rows($table);
        $key = $this->keys[$table];
        if (@is_numeric($primary_id)) {
            if ($primary_id > 0) {
                foreach ($rows as $row) if ($row[$key] == $primary_id) return $row;
                return null;
            } elseif ($primary_id == -1) {
                return $rows;
            }
            throw new SoapFault('invalid_id', 'The ID has to be > 0 or -1.');
        } elseif (@is_array($primary_id) || @is_object($primary_id)) {
            if (@is_object($primary_id)) $primary_id = get_object_vars($primary_id);
            $offset = 0; $limit = 0; $tests = [];
            foreach ($primary_id as $column => $value) {
                if ($column == '#OFFSET#') $offset = intval($value);
                elseif ($column == '#LIMIT#') $limit = intval($value);
                else $tests[$column] = db_string($value);
            }
            $found = [];
            foreach ($rows as $row) {
                $ok = true;
                foreach ($tests as $column => $value) {
                    if (!array_key_exists($column, $row)) { http_response_code(500); exit; }  // unknown column
                    $ok = $ok && $this->sqlMatches($row[$column], $value);
                }
                if ($ok) $found[] = $row;
            }
            return ($offset >= 0 && $limit > 0) ? array_slice($found, $offset, $limit) : $found;
        }
        return array();
    }

    /* `col = ?` / `col LIKE ?` under a case-insensitive collation; NULL matches nothing. */
    private function sqlMatches($cell, $value) {
        if ($cell === null || $value === null) return false;
        if (strpos($value, '%') !== false) {
            $pattern = '/^' . str_replace(['%', '_'], ['.*', '.'], preg_quote($value, '/')) . '$/isu';
            return preg_match($pattern, $cell) === 1;
        }
        return strtolower(rtrim($cell, ' ')) === strtolower(rtrim($value, ' '));
    }

    private function &find($table, $id) {
        $rows = &Store::rows($table);
        $key = $this->keys[$table];
        foreach ($rows as $i => &$row) if ($row[$key] == $id && $id > 0) return $row;
        $none = null;
        return $none;
    }

    private function remove($table, $id) {
        $rows = &Store::rows($table);
        $key = $this->keys[$table];
        foreach ($rows as $i => $row) {
            if ($row[$key] == $id && $id > 0) { array_splice($rows, $i, 1); return 1; }
        }
        return 0;
    }

    /* loadUserProfile: the owner of a record for a client id (0 or unknown: the admin). */
    private function owner($client_id) {
        $client_id = intval($client_id);
        foreach (Store::rows('sys_user') as $user) {
            if ($client_id != 0 && $user['client_id'] == $client_id) return [$user['userid'], $user['default_group']];
        }
        return ['1', '1'];
    }

    /* Merge $params into $row (unknown columns ignored); whether anything changed. */
    private function store($table, &$row, $params) {
        $changed = false;
        foreach ($params as $column => $value) {
            if (array_key_exists($column, $row) && $column != $this->keys[$table]) {
                $value = db_string($value);
                $changed = $changed || $row[$column] !== $value;
                $row[$column] = $value;
            }
        }
        return $changed;
    }

    private function fail($errors) {
        if ($errors) throw new SoapFault('data_processing_error', implode(BR, $errors) . BR);
    }

    /* --- clients (remote.d/client.inc.php) --- */

    public function client_get($session_id, $client_id) {
        $this->checkPerm($session_id, 'client_get');
        return $this->getDataRecord('client', $client_id);
    }

    public function client_get_id($session_id, $sys_userid) {
        $this->checkPerm($session_id, 'client_get_id');
        foreach (Store::rows('sys_user') as $user) {
            if ($user['userid'] == intval($sys_userid)) return intval($user['client_id']);
        }
        throw new SoapFault('no_client_found', 'There is no sysuser account for this client ID.');
    }

    private function clientErrors($record, $client_id) {
        $errors = [];
        if (trim((string)($record['contact_name'] ?? '')) === '') $errors[] = 'contact_error_empty';
        if (!filter_var((string)($record['email'] ?? ''), FILTER_VALIDATE_EMAIL)) $errors[] = 'email_error_isemail';
        $username = (string)($record['username'] ?? '');
        if ($username === '') $errors[] = 'username_error_empty';
        elseif (!preg_match('/^[\w\.\-]{1,64}$/', $username)) $errors[] = 'username_error_regex';
        else {
            foreach (Store::rows('sys_user') as $user) {
                if (strtolower($user['username']) === strtolower($username) && intval($user['client_id']) !== $client_id) {
                    $errors[] = 'username_error_unique';
                    break;
                }
            }
        }
        return $errors;
    }

    public function client_add($session_id, $reseller_id, $params) {
        $this->checkPerm($session_id, 'client_add');
        if (!isset($params['parent_client_id']) || $params['parent_client_id'] == 0) {
            $params['parent_client_id'] = $reseller_id;
        }
        $this->fail($this->clientErrors($params, -1));
        $row = Store::$tables['client'];
        $this->store('client', $row, $params);
        $row['sys_userid'] = '1';
        $row['sys_groupid'] = '1';
        $row['created_at'] = (string)Store::now();
        $row['password'] = crypt((string)$params['password'], '$6$rounds=5000$' . bin2hex(random_bytes(8)) . '$');
        $row['id_rsa'] = "-----BEGIN RSA PRIVATE KEY-----\n" . base64_encode(random_bytes(120)) . "\n-----END RSA PRIVATE KEY-----\n";
        $row['ssh_rsa'] = 'ssh-rsa AAAAB3NzaC1yc2E' . base64_encode(random_bytes(48)) . ' php-interop';
        if (empty($params['language'])) {
            $row['language'] = null;
            Store::insert('client', 'client_id', $row);
            Store::save();
            http_response_code(500);  // PHP 8.2: the database refuses the login row; nothing is answered
            exit;
        }
        $client_id = Store::insert('client', 'client_id', $row);
        $group = Store::insert('sys_group', 'groupid', ['name' => $row['username'], 'description' => '', 'client_id' => (string)$client_id]);
        $user = Store::$tables['sys_user'];
        foreach (['username' => $row['username'], 'passwort' => $row['password'], 'language' => $row['language'],
                  'client_id' => (string)$client_id, 'groups' => (string)$group, 'default_group' => (string)$group,
                  'sys_userid' => '1', 'sys_groupid' => '1'] as $column => $value) $user[$column] = $value;
        Store::insert('sys_user', 'userid', $user);
        return (string)$client_id;
    }

    public function client_update($session_id, $client_id, $reseller_id, $params) {
        $this->checkPerm($session_id, 'client_update');
        $row = &$this->find('client', intval($client_id));
        if ($row === null) return 0;
        $merged = array_merge($row, $params);   // fails like ISPConfig's array_merge for a stdClass
        $this->fail($this->clientErrors($merged, intval($client_id)));
        if (isset($params['password'])) {
            $params['password'] = crypt((string)$params['password'], '$6$rounds=5000$' . bin2hex(random_bytes(8)) . '$');
        }
        $changed = $this->store('client', $row, $params);
        $users = &Store::rows('sys_user');
        foreach ($users as &$user) {
            if ($user['client_id'] == $row['client_id']) {
                $user['username'] = $row['username'];
                $user['passwort'] = $row['password'];
                /* func_client_cancel: every client_update (never client_add) makes the login follow the
                   merged record's `canceled` ('n' is truthy in PHP, so an update re-activates too). */
                if ($row['canceled'] === 'y') $user['active'] = '0';
                elseif ($row['canceled'] === 'n') $user['active'] = '1';
            }
        }
        return $changed ? 1 : 0;
    }

    public function client_delete($session_id, $client_id) {
        $this->checkPerm($session_id, 'client_delete');
        $client_id = intval($client_id);
        if (!$this->remove('client', $client_id)) return 0;
        foreach (['sys_user', 'sys_group'] as $table) {
            $rows = &Store::rows($table);
            $rows = array_values(array_filter($rows, function ($r) use ($client_id) { return intval($r['client_id']) !== $client_id; }));
        }
        return 1;
    }

    /* --- domains (remote.d/domains.inc.php) and sites (remote.d/sites.inc.php) --- */

    private function domainErrors($table, $record, $id) {
        $name = (string)($record['domain'] ?? '');
        if ($name === '') return ['domain_error_empty'];
        if (!preg_match('/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/i', $name)) return ['domain_error_regex'];
        foreach (Store::rows($table) as $row) {
            if (strtolower($row['domain']) === strtolower($name) && intval($row['domain_id']) !== $id) return ['domain_error_unique'];
        }
        return [];
    }

    private function siteErrors($record) {
        $errors = [];
        $server = false;
        foreach (Store::rows('server') as $row) $server = $server || $row['server_id'] == intval($record['server_id'] ?? 0);
        if (!$server) $errors[] = 'no_server_error';
        foreach (['hd_quota', 'traffic_quota'] as $column) {
            $value = (string)($record[$column] ?? '');
            if ($value === '') $errors[] = $column . '_error_empty';
            if (!preg_match('/^-?\d+$/', $value)) $errors[] = $column . '_error_regex';
        }
        return $errors;
    }

    private function add($table, $client_id, $params) {
        $errors = $this->domainErrors($table, $params, -1);
        if ($table == 'web_domain') $errors = array_merge($errors, $this->siteErrors($params));
        $this->fail($errors);
        $row = Store::$tables[$table];
        $this->store($table, $row, $params);
        list($row['sys_userid'], $row['sys_groupid']) = $this->owner($client_id);
        return (string)Store::insert($table, 'domain_id', $row);
    }

    private function update($table, $client_id, $primary_id, $params) {
        $row = &$this->find($table, intval($primary_id));
        if ($row === null) return 0;
        $merged = array_merge($row, $params);
        $errors = $this->domainErrors($table, $merged, intval($primary_id));
        if ($table == 'web_domain') $errors = array_merge($errors, $this->siteErrors($merged));
        $this->fail($errors);
        $changed = $this->store($table, $row, $params);
        $owner = $this->owner($client_id);
        $changed = $changed || [$row['sys_userid'], $row['sys_groupid']] != $owner;
        list($row['sys_userid'], $row['sys_groupid']) = $owner;
        return $changed ? 1 : 0;
    }

    public function domains_domain_get($session_id, $primary_id) {
        $this->checkPerm($session_id, 'domains_domain_get');
        return $this->getDataRecord('domain', $primary_id);
    }

    public function domains_domain_add($session_id, $client_id, $params) {
        $this->checkPerm($session_id, 'domains_domain_add');
        return $this->add('domain', $client_id, $params);
    }

    public function domains_domain_update($session_id, $client_id, $primary_id, $params) {
        $this->checkPerm($session_id, 'domains_domain_update');
        return $this->update('domain', $client_id, $primary_id, $params);
    }

    public function domains_domain_delete($session_id, $primary_id) {
        $this->checkPerm($session_id, 'domains_domain_delete');
        return $this->remove('domain', intval($primary_id));
    }

    public function sites_web_domain_get($session_id, $primary_id) {
        $this->checkPerm($session_id, 'sites_web_domain_get');
        return $this->getDataRecord('web_domain', $primary_id);
    }

    public function sites_web_domain_add($session_id, $client_id, $params, $readonly = false) {
        $this->checkPerm($session_id, 'sites_web_domain_add');
        return $this->add('web_domain', $client_id, $params);
    }

    public function sites_web_domain_update($session_id, $client_id, $primary_id, $params) {
        $this->checkPerm($session_id, 'sites_web_domain_update');
        return $this->update('web_domain', $client_id, $primary_id, $params);
    }

    public function sites_web_domain_delete($session_id, $primary_id) {
        $this->checkPerm($session_id, 'sites_web_domain_delete');
        return $this->remove('web_domain', intval($primary_id));
    }
}

/* --- json.php: ISPConfig's json_handler --- */

function json_reply($code, $message, $response) {
    header('Content-Type: application/json; charset="utf-8"');
    echo json_encode(['code' => $code, 'message' => $message, 'response' => $response]);
}

function handle_json() {
    $method = array_key_first($_GET) ?? '';
    if ($method === '') return json_reply('invalid_method', 'No method name', false);
    $params = json_decode(file_get_contents('php://input'), true);
    if (!is_array($params)) return json_reply('invalid_data', 'The JSON data sent to the api is invalid', false);
    if (!method_exists('remoting', $method)) return json_reply('invalid_method', "Method $method does not exist", false);
    $arguments = [];
    foreach ((new ReflectionMethod('remoting', $method))->getParameters() as $parameter) {
        $arguments[] = $params[$parameter->getName()] ?? null;
    }
    try {
        $result = call_user_func_array([new remoting(), $method], $arguments);
        json_reply('ok', '', $result);
    } catch (SoapFault $fault) {
        json_reply('remote_fault', $fault->getMessage(), false);
    }
}

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path === '/remote/index.php') {
    Store::open();
    register_shutdown_function(['Store', 'save']);
    $server = new SoapServer(null, ['uri' => $_SERVER['REQUEST_URI']]);
    $server->setClass('remoting');
    $server->handle();
} elseif ($path === '/remote/json.php') {
    Store::open();
    register_shutdown_function(['Store', 'save']);
    handle_json();
} else {
    http_response_code(404);
    echo "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>";
}
